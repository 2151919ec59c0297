// The dashboard's live count, timed (`just bench`, part `dashboard`; crates/bench/src/dashboard.rs
// runs it against a devstack started with the template's defaults). A user signs in on the
// page and creates a link through it; then, one at a time, a click is sent from outside the
// page (GET of the short URL, as a visitor's browser does) and the page's count of that link is
// watched until it shows the new total, with no reload. A MutationObserver in the page stamps
// the moment the count's text changes; the latency is that stamp minus the moment the click
// was sent (both Date.now() on this machine).
//
// Env: DASHBOARD_URL, EDGE_URL (required), CLICKS (default 50), CHROMIUM. Prints one JSON line
// on stdout: {"clicks": [{"redirectMs": .., "movedMs": ..}, ...]}; progress on stderr.

import { chromium } from 'playwright-core';

const DASHBOARD_URL = process.env.DASHBOARD_URL;
const EDGE_URL = (process.env.EDGE_URL || '').replace(/\/$/, '');
const CLICKS = Number(process.env.CLICKS || 50);
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const DEADLINE_MS = 10_000;
const PASSWORD = 'Correct-Horse-42';

const log = (...a) => console.error('[dashboard bench]', ...a);

async function cognito(target, body, endpoint) {
  const resp = await fetch(endpoint, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-amz-json-1.1',
      'x-amz-target': `AWSCognitoIdentityProviderService.${target}`,
    },
    body: JSON.stringify(body),
  });
  const text = await resp.text();
  if (!resp.ok) throw new Error(`${target}: ${resp.status} ${text}`);
  return text ? JSON.parse(text) : {};
}

async function main() {
  if (!DASHBOARD_URL || !EDGE_URL) throw new Error('DASHBOARD_URL and EDGE_URL are required');
  // The account, made through Cognito's API as the page would (the page's forms are the
  // browser test's business, not this timing's).
  const config = await (await fetch(new URL('config.json', DASHBOARD_URL))).json();
  const endpoint = `${new URL(config.userPoolProviderUrl).origin}/`;
  const email = `bench-${Date.now()}@example.com`;
  await cognito('SignUp', {
    ClientId: config.userPoolClientId,
    Username: email,
    Password: PASSWORD,
    UserAttributes: [{ Name: 'email', Value: email }],
  }, endpoint);
  const messages = await (await fetch(`${EDGE_URL}/_devstack/cognito/messages`)).json();
  const code = messages.filter((m) => m.destination === email).pop()?.code;
  if (!code) throw new Error(`no confirmation code for ${email}`);
  await cognito('ConfirmSignUp', { ClientId: config.userPoolClientId, Username: email, ConfirmationCode: code }, endpoint);

  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
  try {
    const page = await browser.newPage();
    page.setDefaultTimeout(15_000);
    await page.goto(DASHBOARD_URL);
    const signIn = page.locator('#sign-in-form');
    await signIn.getByLabel('Email').fill(email);
    await signIn.getByLabel('Password').fill(PASSWORD);
    await signIn.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.locator('#links-empty').waitFor({ state: 'visible' });

    const alias = `bench-${Date.now().toString(36)}`;
    const create = page.locator('#create-form');
    await create.getByLabel('Target URL').fill('https://example.com/bench');
    await create.getByLabel(/Custom alias/).fill(alias);
    await create.getByRole('button', { name: 'Shorten' }).click();
    const item = page.locator(`li[data-code="${alias}"]`);
    await page.locator(`li[data-code="${alias}"][data-live="true"]`).waitFor({ timeout: DEADLINE_MS });
    const short = await item.locator('a.link-short').getAttribute('href');

    // Stamp every change of the count's text, whatever re-renders it.
    await page.evaluate((c) => {
      window.__moves = [];
      let last = document.querySelector(`.clicks[data-code="${c}"]`)?.textContent;
      new MutationObserver(() => {
        const now = document.querySelector(`.clicks[data-code="${c}"]`)?.textContent;
        if (now !== last) {
          last = now;
          window.__moves.push({ text: now, at: Date.now() });
        }
      }).observe(document.body, { subtree: true, childList: true, characterData: true });
      window.__notReloaded = true;
    }, alias);

    const clicks = [];
    for (let i = 1; i <= CLICKS; i++) {
      const sent = Date.now();
      const resp = await fetch(short, { redirect: 'manual' });
      const redirected = Date.now();
      if (![301, 302].includes(resp.status)) throw new Error(`click ${i}: the short URL answered ${resp.status}`);
      const handle = await page.waitForFunction(
        (n) => window.__moves.find((m) => m.text === String(n)),
        i,
        { timeout: DEADLINE_MS, polling: 5 },
      );
      const move = await handle.jsonValue();
      clicks.push({ redirectMs: redirected - sent, movedMs: move.at - sent });
      if (i % 10 === 0) log(`${i}/${CLICKS} clicks`);
    }
    if (!(await page.evaluate(() => window.__notReloaded === true))) throw new Error('the page reloaded');
    console.log(JSON.stringify({ clicks }));
  } finally {
    await browser.close();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
