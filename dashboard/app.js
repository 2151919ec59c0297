// The dashboard: sign up / sign in with Cognito, the caller's links with live click counts
// over the WebSocket API, per-link stats, edit, disable and delete. Plain ES module: the page
// learns its endpoints from config.json next to it: the stack's SiteConfig output, which
// devstack serves resolved to its local endpoints and `just publish-dashboard` uploads.

const $ = (id) => document.getElementById(id);

/** `1 click`, `2 clicks`. */
const plural = (n, word) => `${n} ${word}${n === 1 ? '' : 's'}`;

/** Human messages for the API's problem types (`urn:url-shortener:problem:<slug>`). */
const PROBLEMS = {
  'bad-request': 'The request was not understood.',
  'invalid-url': 'That target URL is not valid: use a full http:// or https:// address.',
  'invalid-alias': 'That alias is not allowed: use letters, digits, "-" or "_".',
  'invalid-expiry': 'The expiry must be a date and time in the future.',
  'invalid-redirect': 'The redirect type must be 301, 302, 307 or 308.',
  'invalid-cursor': 'The list could not be continued: refresh it.',
  'invalid-idempotency-key': 'The request could not be sent safely: try again.',
  unauthorized: 'Your session has expired: please sign in again.',
  'not-found': 'That link does not exist (it may have been deleted).',
  gone: 'That link is no longer available.',
  'alias-taken': 'That alias is already taken: choose another.',
  conflict: 'The link was changed at the same time: refresh and try again.',
  'invalid-transition': 'That change is not possible for the link in its current status.',
  'idempotency-key-reused': 'This request conflicts with an earlier one: try again.',
  'code-space-exhausted': 'No short code is free right now: try again or choose an alias.',
  'publish-failed': 'The change was saved but could not be announced: try again shortly.',
};

/** Human messages for Cognito's error types. */
const COGNITO = {
  UsernameExistsException: 'An account with this email already exists: sign in instead.',
  InvalidPasswordException: 'The password does not meet the rules.',
  NotAuthorizedException: 'Incorrect email or password.',
  UserNotFoundException: 'Incorrect email or password.',
  UserNotConfirmedException: 'This account is not confirmed yet: enter the emailed code.',
  CodeMismatchException: 'That confirmation code is not right.',
  ExpiredCodeException: 'That confirmation code has expired.',
  InvalidParameterException: 'Some of the details are not valid.',
  TooManyRequestsException: 'Too many attempts: wait a moment and try again.',
  LimitExceededException: 'Too many attempts: wait a moment and try again.',
};

class ProblemError extends Error {
  constructor(status, problem) {
    const slug = (problem.type || '').split(':').pop();
    super(PROBLEMS[slug] || problem.title || `The API answered ${status}.`);
    this.status = status;
    this.slug = slug;
    this.detail = problem.detail || '';
  }
}

class CognitoError extends Error {
  constructor(type, message) {
    super(COGNITO[type] || message || type);
    this.type = type;
    this.detail = message && message !== this.message ? `${type}: ${message}` : type;
  }
}

const state = {
  config: null,
  token: sessionStorage.getItem('idToken'),
  email: sessionStorage.getItem('email'),
  links: new Map(), // code -> link
  sockets: new Map(), // code -> WebSocket
  cursor: null,
  selected: null,
  pendingEmail: null,
  pendingPassword: null,
};

// ---- messages ------------------------------------------------------------------------

function say(text) {
  const m = $('message');
  m.textContent = text;
  m.hidden = !text;
  $('error').hidden = true;
}

function fail(err) {
  const e = $('error');
  e.replaceChildren(document.createTextNode(err.message || String(err)));
  if (err.detail) {
    const d = document.createElement('span');
    d.className = 'detail';
    d.textContent = err.detail;
    e.append(d);
  }
  e.hidden = false;
  $('message').hidden = true;
  if (err instanceof ProblemError && err.status === 401) signOut(false);
}

function clearMessages() {
  $('message').hidden = true;
  $('error').hidden = true;
}

/** Runs `fn` with `button` disabled, showing any error. */
async function busy(button, fn) {
  if (button) button.disabled = true;
  try {
    clearMessages();
    await fn();
  } catch (err) {
    fail(err);
  } finally {
    if (button) button.disabled = false;
  }
}

// ---- Cognito and the API --------------------------------------------------------------

async function cognito(operation, body) {
  let resp;
  try {
    resp = await fetch(state.config.cognitoEndpoint, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/x-amz-json-1.1',
        'X-Amz-Target': `AWSCognitoIdentityProviderService.${operation}`,
      },
      body: JSON.stringify(body),
    });
  } catch (e) {
    throw new CognitoError('NetworkError', `Cognito could not be reached (${e.message}).`);
  }
  const json = await resp.json().catch(() => ({}));
  if (!resp.ok) {
    const type = (json.__type || resp.headers.get('x-amzn-errortype') || 'Error').split('#').pop().split(':')[0];
    throw new CognitoError(type, json.message || json.Message);
  }
  return json;
}

async function api(method, path, body) {
  const headers = { Authorization: `Bearer ${state.token}` };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method === 'POST') headers['Idempotency-Key'] = newKey();
  let resp;
  try {
    resp = await fetch(state.config.apiUrl.replace(/\/$/, '') + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    throw Object.assign(new Error('The API could not be reached.'), { detail: e.message });
  }
  const text = await resp.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
  if (!resp.ok) {
    if (json && typeof json === 'object' && (json.type || json.title)) throw new ProblemError(resp.status, json);
    if (resp.status === 401) throw new ProblemError(401, { type: 'urn:url-shortener:problem:unauthorized' });
    throw Object.assign(new Error(`The API answered ${resp.status}.`), { status: resp.status, detail: text.slice(0, 200) });
  }
  return json;
}

function newKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

// ---- signing in and out ---------------------------------------------------------------

function showForm(id) {
  for (const f of ['sign-in-form', 'sign-up-form', 'confirm-form']) $(f).hidden = f !== id;
  $('auth-title').textContent = { 'sign-in-form': 'Sign in', 'sign-up-form': 'Create an account', 'confirm-form': 'Confirm your email' }[id];
  const first = $(id).querySelector('input');
  if (first) first.focus();
}

async function signUp(form) {
  const email = form.email.value.trim();
  const password = form.password.value;
  if (!email || !password) throw new Error('Enter an email and a password.');
  await cognito('SignUp', {
    ClientId: state.config.clientId,
    Username: email,
    Password: password,
    UserAttributes: [{ Name: 'email', Value: email }],
  });
  state.pendingEmail = email;
  state.pendingPassword = password;
  $('confirm-email').textContent = email;
  showForm('confirm-form');
  say(`Account created: enter the code sent to ${email}.`);
}

async function confirm(form) {
  const code = form.code.value.trim();
  if (!code) throw new Error('Enter the confirmation code.');
  await cognito('ConfirmSignUp', {
    ClientId: state.config.clientId,
    Username: state.pendingEmail,
    ConfirmationCode: code,
  });
  if (state.pendingPassword) {
    await signIn(state.pendingEmail, state.pendingPassword);
  } else {
    $('sign-in-email').value = state.pendingEmail;
    showForm('sign-in-form');
    say('Email confirmed: sign in.');
  }
}

async function signIn(email, password) {
  if (!email || !password) throw new Error('Enter your email and password.');
  let auth;
  try {
    auth = await cognito('InitiateAuth', {
      ClientId: state.config.clientId,
      AuthFlow: 'USER_PASSWORD_AUTH',
      AuthParameters: { USERNAME: email, PASSWORD: password },
    });
  } catch (err) {
    if (err.type === 'UserNotConfirmedException') {
      state.pendingEmail = email;
      state.pendingPassword = password;
      $('confirm-email').textContent = email;
      showForm('confirm-form');
    }
    throw err;
  }
  const token = auth.AuthenticationResult && auth.AuthenticationResult.IdToken;
  if (!token) throw new Error('Cognito asked for another sign-in step, which this page does not support.');
  state.token = token;
  state.email = email;
  state.pendingPassword = null;
  sessionStorage.setItem('idToken', token);
  sessionStorage.setItem('email', email);
  await enterApp();
  if (state.token === token) say(`Signed in as ${email}.`);
}

function signOut(announce = true) {
  for (const ws of state.sockets.values()) ws.close(1000);
  state.sockets.clear();
  state.links.clear();
  state.token = null;
  state.email = null;
  state.selected = null;
  sessionStorage.removeItem('idToken');
  sessionStorage.removeItem('email');
  $('links').replaceChildren();
  $('details').hidden = true;
  $('app').hidden = true;
  $('who').hidden = true;
  $('auth').hidden = false;
  showForm('sign-in-form');
  if (announce) say('Signed out.');
}

async function enterApp() {
  $('auth').hidden = true;
  $('app').hidden = false;
  $('who').hidden = false;
  $('who-email').textContent = state.email || '';
  await loadLinks(true);
  if (state.token) $('create-url').focus();
}

// ---- links ------------------------------------------------------------------------------

async function loadLinks(reset) {
  if (reset) {
    for (const ws of state.sockets.values()) ws.close(1000);
    state.sockets.clear();
    state.links.clear();
    state.cursor = null;
    $('links').replaceChildren();
  }
  const q = new URLSearchParams({ limit: '20' });
  if (state.cursor) q.set('cursor', state.cursor);
  const token = state.token;
  const page = await api('GET', `/links?${q}`);
  if (state.token !== token) return; // signed out meanwhile
  for (const link of page.links || []) addLink(link, false);
  state.cursor = page.nextCursor || null;
  $('more').hidden = !state.cursor;
  $('links-empty').hidden = state.links.size > 0;
}

function statusBadge(status) {
  const b = document.createElement('span');
  b.className = `badge ${status}`;
  b.textContent = status;
  return b;
}

function shortUrl(link) {
  return link.shortUrl || `${state.config.apiUrl.replace(/\/$/, '')}/${link.code}`;
}

function renderLink(li, link) {
  li.replaceChildren();
  const main = document.createElement('div');
  main.className = 'link-main';
  const short = document.createElement('a');
  short.className = 'link-short';
  short.href = shortUrl(link);
  short.target = '_blank';
  short.rel = 'noopener';
  short.textContent = shortUrl(link).replace(/^https?:\/\//, '');
  const target = document.createElement('div');
  target.className = 'target';
  target.textContent = link.target;
  main.append(short, statusBadge(link.status), target);

  const count = document.createElement('div');
  count.className = 'count';
  const clicks = document.createElement('span');
  clicks.className = 'clicks';
  clicks.dataset.code = link.code;
  clicks.setAttribute('aria-live', 'polite');
  clicks.setAttribute('aria-label', `${plural(link.clicks ?? 0, 'click')} on ${link.code}`);
  clicks.textContent = String(link.clicks ?? 0);
  const label = document.createElement('span');
  label.className = 'label';
  label.textContent = 'clicks';
  count.append(clicks, label);

  const open = document.createElement('button');
  open.type = 'button';
  open.className = 'secondary open';
  open.textContent = 'Details';
  open.setAttribute('aria-label', `Details of ${link.code}`);
  open.addEventListener('click', () => busy(open, () => openDetails(link.code)));
  li.append(main, count, open);
}

function addLink(link, first) {
  const existing = document.querySelector(`li[data-code="${CSS.escape(link.code)}"]`);
  state.links.set(link.code, link);
  const li = existing || document.createElement('li');
  li.className = 'link-item';
  li.dataset.code = link.code;
  renderLink(li, link);
  if (!existing) {
    if (first) $('links').prepend(li);
    else $('links').append(li);
  }
  $('links-empty').hidden = true;
  watch(link.code);
}

function removeLink(code) {
  state.links.delete(code);
  const ws = state.sockets.get(code);
  state.sockets.delete(code);
  if (ws) ws.close(1000);
  const li = document.querySelector(`li[data-code="${CSS.escape(code)}"]`);
  if (li) li.remove();
  $('links-empty').hidden = state.links.size > 0;
}

async function createLink(form) {
  const url = form.url.value.trim();
  if (!url) throw new Error('Enter the target URL.');
  const body = { url, redirect: Number(form.redirect.value) };
  const alias = form.alias.value.trim();
  if (alias) body.alias = alias;
  if (form.expiresAt.value) {
    const at = new Date(form.expiresAt.value);
    if (Number.isNaN(at.getTime())) throw new ProblemError(400, { type: 'urn:url-shortener:problem:invalid-expiry' });
    body.expiresAt = at.toISOString().replace(/\.\d{3}Z$/, 'Z');
  }
  const link = await api('POST', '/links', body);
  addLink(link, true);
  form.reset();
  say(`Created ${shortUrl(link)}.`);
  $('create-url').focus();
}

// ---- live counts --------------------------------------------------------------------------

/** One WebSocket per watched link: `{code, clicks, today}` after each counted batch. */
function watch(code, attempt = 0) {
  if (!state.config.websocketUrl || !state.token || state.sockets.has(code)) return;
  const url = `${state.config.websocketUrl}?code=${encodeURIComponent(code)}&token=${encodeURIComponent(state.token)}`;
  let ws;
  try {
    ws = new WebSocket(url);
  } catch {
    return;
  }
  state.sockets.set(code, ws);
  const mark = (live) => {
    const li = document.querySelector(`li[data-code="${CSS.escape(code)}"]`);
    if (li) li.dataset.live = String(live);
  };
  ws.addEventListener('open', () => { attempt = 0; mark(true); });
  ws.addEventListener('message', (ev) => {
    let push;
    try { push = JSON.parse(ev.data); } catch { return; }
    if (push && push.code) updateCount(push.code, push.clicks, push.today);
  });
  ws.addEventListener('close', () => {
    if (state.sockets.get(code) !== ws) return; // closed on purpose
    state.sockets.delete(code);
    mark(false);
    // Reconnect while the link is listed (idle timeouts, restarts), backing off.
    if (state.token && state.links.has(code) && attempt < 6) {
      setTimeout(() => watch(code, attempt + 1), Math.min(30000, 1000 * 2 ** attempt));
    }
  });
}

function updateCount(code, clicks, today) {
  const link = state.links.get(code);
  if (link) link.clicks = clicks;
  const el = document.querySelector(`.clicks[data-code="${CSS.escape(code)}"]`);
  if (el) {
    el.textContent = String(clicks);
    el.setAttribute('aria-label', `${plural(clicks, 'click')} on ${code}`);
    const box = el.parentElement;
    box.classList.remove('bumped');
    void box.offsetWidth; // restart the animation
    box.classList.add('bumped');
  }
  if (state.selected === code) {
    $('details-clicks').textContent = String(clicks);
    if (today !== undefined) $('details-today').textContent = String(today);
    const last = $('chart').querySelector('rect.bar:last-of-type');
    if (last && today !== undefined && state.daily) {
      state.daily[state.daily.length - 1].clicks = today;
      drawChart(state.daily);
    }
  }
}

// ---- details --------------------------------------------------------------------------------

function when(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
}

async function openDetails(code) {
  const link = await api('GET', `/links/${encodeURIComponent(code)}`);
  state.selected = code;
  state.links.set(code, { ...state.links.get(code), ...link });
  showDetails(link);
  $('details').hidden = false;
  $('details-title').focus();
}

function showDetails(link) {
  $('details-title').textContent = `Link ${link.code}`;
  const a = $('details-short');
  a.href = shortUrl(link);
  a.textContent = shortUrl(link);
  $('details-target').textContent = link.target;
  $('details-status').replaceChildren(statusBadge(link.status));
  $('details-redirect').textContent = String(link.redirect);
  $('details-clicks').textContent = String(link.clicks ?? 0);
  const daily = link.daily || [];
  $('details-today').textContent = String(daily.length ? daily[daily.length - 1].clicks : 0);
  $('details-created').textContent = when(link.createdAt);
  $('details-expires').textContent = link.expiresAt ? when(link.expiresAt) : 'never';
  $('edit-url').value = link.target;
  $('toggle').textContent = link.status === 'disabled' ? 'Enable' : 'Disable';
  state.daily = daily.map((d) => ({ ...d }));
  drawChart(state.daily);
  const li = document.querySelector(`li[data-code="${CSS.escape(link.code)}"]`);
  if (li) renderLink(li, state.links.get(link.code));
}

const SVG = 'http://www.w3.org/2000/svg';

/** Clicks per day as inline SVG bars, with a text summary for screen readers. */
function drawChart(daily) {
  const w = 300;
  const h = 100;
  const pad = 14;
  const max = Math.max(1, ...daily.map((d) => d.clicks));
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', `0 0 ${w} ${h}`);
  svg.setAttribute('preserveAspectRatio', 'none');
  svg.setAttribute('role', 'img');
  const total = daily.reduce((s, d) => s + d.clicks, 0);
  const first = daily[0]?.day ?? '';
  const last = daily[daily.length - 1]?.day ?? '';
  svg.setAttribute('aria-label', `Clicks per day from ${first} to ${last}: ${total} in total, at most ${total ? max : 0} on one day.`);
  const bw = daily.length ? w / daily.length : w;
  daily.forEach((d, i) => {
    const bh = d.clicks ? Math.max(2, ((h - pad) * d.clicks) / max) : 1;
    const r = document.createElementNS(SVG, 'rect');
    r.setAttribute('class', d.clicks ? 'bar' : 'bar zero');
    r.setAttribute('x', String(i * bw + 1));
    r.setAttribute('y', String(h - bh));
    r.setAttribute('width', String(Math.max(1, bw - 2)));
    r.setAttribute('height', String(bh));
    const t = document.createElementNS(SVG, 'title');
    t.textContent = `${d.day}: ${d.clicks}`;
    r.append(t);
    svg.append(r);
  });
  const axis = document.createElement('div');
  axis.className = 'axis';
  axis.setAttribute('aria-hidden', 'true');
  for (const text of [first, `${plural(total, 'click')} · busiest day ${total ? max : 0}`, last]) {
    const span = document.createElement('span');
    span.textContent = text;
    axis.append(span);
  }
  $('chart').replaceChildren(svg, axis);
}

async function copyShort() {
  const url = $('details-short').href;
  try {
    await navigator.clipboard.writeText(url);
    say(`Copied ${url} to the clipboard.`);
  } catch {
    const sel = window.getSelection();
    const range = document.createRange();
    range.selectNodeContents($('details-short'));
    sel.removeAllRanges();
    sel.addRange(range);
    say('The clipboard is not available here: the short URL is selected, copy it with Ctrl+C / ⌘C.');
  }
}

async function patch(body, done) {
  const code = state.selected;
  const link = await api('PATCH', `/links/${encodeURIComponent(code)}`, body);
  const full = await api('GET', `/links/${encodeURIComponent(code)}`).catch(() => link);
  state.links.set(code, { ...state.links.get(code), ...full });
  showDetails(full);
  say(done);
}

async function deleteSelected() {
  const code = state.selected;
  if (!code) return;
  if (!window.confirm(`Delete ${code}? Its short URL stops working and its stats are removed.`)) return;
  await api('DELETE', `/links/${encodeURIComponent(code)}`);
  removeLink(code);
  closeDetails();
  say(`Deleted ${code}.`);
}

function closeDetails() {
  const code = state.selected;
  state.selected = null;
  state.daily = null;
  $('details').hidden = true;
  const li = code && document.querySelector(`li[data-code="${CSS.escape(code)}"] button.open`);
  (li || $('links-title')).focus?.();
}

// ---- start ------------------------------------------------------------------------------------

// config.json is the stack's SiteConfig output (template.yaml): the HTTP API, the WebSocket
// stage and the user pool's issuer (ProviderURL), whose origin is the Cognito API's endpoint;
// devstack adds where it lists the codes Cognito would have emailed.
async function loadConfig() {
  const resp = await fetch(new URL('config.json', document.baseURI), { cache: 'no-store' });
  if (!resp.ok) throw new Error(`config.json answered ${resp.status}`);
  const c = await resp.json();
  for (const key of ['apiUrl', 'userPoolProviderUrl', 'userPoolClientId']) {
    if (typeof c[key] !== 'string' || !c[key]) throw new Error(`config.json lacks ${key}`);
  }
  let issuer;
  try {
    issuer = new URL(c.userPoolProviderUrl);
  } catch {
    throw new Error(`config.json's userPoolProviderUrl is not a URL: ${c.userPoolProviderUrl}`);
  }
  return {
    apiUrl: c.apiUrl,
    websocketUrl: c.websocketUrl || null,
    cognitoEndpoint: `${issuer.origin}/`,
    clientId: c.userPoolClientId,
    cognitoMessages: c.devstack?.cognitoMessages || null,
  };
}

function wire() {
  for (const b of document.querySelectorAll('[data-show]')) {
    b.addEventListener('click', () => { clearMessages(); showForm(b.dataset.show); });
  }
  const submit = (id, fn) => $(id).addEventListener('submit', (e) => {
    e.preventDefault();
    busy(e.submitter || $(id).querySelector('button[type=submit]'), () => fn(e.target));
  });
  submit('sign-in-form', (f) => signIn(f.email.value.trim(), f.password.value));
  submit('sign-up-form', signUp);
  submit('confirm-form', confirm);
  submit('create-form', createLink);
  submit('edit-form', (f) => {
    const url = f.url.value.trim();
    if (!url) throw new Error('Enter the new target URL.');
    return patch({ url }, 'Target saved: the link is checked again before it is active.');
  });
  $('sign-out').addEventListener('click', () => signOut(true));
  $('refresh').addEventListener('click', (e) => busy(e.currentTarget, () => loadLinks(true)));
  $('more').addEventListener('click', (e) => busy(e.currentTarget, () => loadLinks(false)));
  $('copy').addEventListener('click', () => busy(null, copyShort));
  $('toggle').addEventListener('click', (e) => busy(e.currentTarget, () => {
    const link = state.links.get(state.selected);
    const disable = !(link && link.status === 'disabled');
    return patch({ disabled: disable }, disable ? 'Link disabled: it answers 410 Gone.' : 'Link enabled: it is checked again before it is active.');
  }));
  $('delete').addEventListener('click', (e) => busy(e.currentTarget, deleteSelected));
  $('details-close').addEventListener('click', closeDetails);
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && !$('details').hidden) closeDetails();
  });
}

async function main() {
  wire();
  try {
    state.config = await loadConfig();
  } catch (err) {
    $('loading').hidden = true;
    fail({ message: 'The dashboard could not load its configuration.', detail: err.message });
    return;
  }
  $('loading').hidden = true;
  if (state.config.cognitoMessages) {
    const url = state.config.cognitoMessages;
    $('devstack-messages').href = url;
    $('devstack-messages').textContent = url;
    $('devstack-hint').hidden = false;
  }
  if (state.token) {
    try {
      await enterApp();
      return;
    } catch (err) {
      fail(err);
      if (!state.token) return;
      signOut(false);
      return;
    }
  }
  $('auth').hidden = false;
  showForm('sign-in-form');
}

main();
