//! Child processes the benchmark starts (`cargo lambda watch`, `devstack up`, the floor
//! server): each in its own process group, stopped by its own ids at the end.

use crate::cpu;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// Puts the command in a new process group (led by the child), so that the group id is the
/// child's pid and one signal reaches whatever it forks that stays in the group.
pub fn own_group(cmd: &mut Command) -> &mut Command {
    cmd.process_group(0)
}

fn signal(sig: &str, target: &str) {
    let _ = Command::new("kill")
        .args([sig, "--", target])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
}

/// Stops `child` and everything it started: TERM to its process group (a graceful stop lets
/// `cargo lambda` and `devstack` stop their own function processes), then KILL to the group
/// and to every descendant recorded before, in case one moved to a group of its own.
pub fn stop_tree(child: &mut Child) {
    let pid = child.id();
    if matches!(child.try_wait(), Ok(Some(_))) {
        return;
    }
    let before: Vec<(u32, Option<String>)> = cpu::descendants(pid)
        .into_iter()
        .map(|p| (p, cpu::program(p)))
        .collect();
    signal("-TERM", &format!("-{pid}"));
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if matches!(child.try_wait(), Ok(Some(_))) {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    if !matches!(child.try_wait(), Ok(Some(_))) {
        signal("-KILL", &format!("-{pid}"));
    }
    let _ = child.wait();
    for (p, program) in before {
        // Only a process still running the same program: its pid cannot have been reused.
        if program.is_some() && cpu::program(p) == program {
            signal("-KILL", &p.to_string());
        }
    }
}

/// Stops the child when dropped: an early error or a panic leaves no server behind.
pub struct Guard(pub Option<Child>);

impl Guard {
    pub fn pid(&self) -> u32 {
        self.0.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.0.take() {
            stop_tree(&mut c);
        }
    }

    /// The child's exit status if it has already exited.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.0.as_mut().and_then(|c| c.try_wait().ok().flatten())
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.stop();
    }
}
