// Passkeys on the provider's pages. Without this script (or a browser without
// WebAuthn) every page still works with passcodes; the passkey controls stay
// hidden. The server keeps each ceremony's state; this only carries the
// browser's answer back, as a form post with the CSRF token.
(() => {
  'use strict';
  const supported = typeof window.PublicKeyCredential === 'function' && !!navigator.credentials;

  const toB64u = (buf) => {
    let s = '';
    for (const b of new Uint8Array(buf)) s += String.fromCharCode(b);
    return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  };
  const fromB64u = (s) => {
    const b = atob(s.replace(/-/g, '+').replace(/_/g, '/') + '==='.slice((s.length + 3) % 4));
    return Uint8Array.from(b, (c) => c.charCodeAt(0));
  };

  // The provider's refusals are JSON; a page (an expired sign-in, too many
  // requests) or no answer at all is explained here.
  const post = async (url, fields, signal) => {
    let res;
    try {
      res = await fetch(url, {
        method: 'POST',
        credentials: 'same-origin',
        headers: { Accept: 'application/json' },
        body: new URLSearchParams(fields),
        signal,
      });
    } catch (err) {
      if (err && err.name === 'AbortError') throw err;
      throw new Error('The sign-in service could not be reached. Check your connection and try again.');
    }
    let body = null;
    try { body = await res.json(); } catch (_) { /* not JSON */ }
    if (!res.ok) {
      if (body && body.error && res.status !== 429) throw new Error(body.error);
      if (res.status === 429) throw new Error('Too many attempts from your network. Wait a minute and try again.');
      if (res.status === 400 || res.status === 403) {
        throw new Error('This page has expired. Reload it, or go back to the application and start again.');
      }
      throw new Error('Something went wrong. Please try again.');
    }
    return body || {};
  };

  // Where the provider sends the browser next: its own pages or the
  // application's redirect address, never a script.
  const go = (next) => {
    const url = new URL(next, window.location.href);
    // A native app's own scheme is fine; a script is not.
    if (['javascript:', 'data:', 'vbscript:', 'blob:'].includes(url.protocol)) {
      throw new Error('The provider answered with an address this page will not open.');
    }
    window.location.assign(url.href);
  };

  const status = (el, text) => {
    const box = (el.closest('section') || document).querySelector('[data-passkey-status]');
    if (!box) return;
    box.textContent = text || '';
    box.hidden = !text;
  };

  // What a cancelled or failed browser prompt means for the user.
  const explain = (err, fallback) => {
    if (err && (err.name === 'NotAllowedError' || err.name === 'AbortError')) {
      return 'The passkey prompt was closed or timed out. ' + fallback;
    }
    if (err && err.name === 'InvalidStateError') {
      return 'This device already has a passkey for your account. ' + fallback;
    }
    if (err && err.name === 'SecurityError') {
      return 'This browser refused passkeys for this address. ' + fallback;
    }
    return ((err && err.message) || 'Something went wrong.') + ' ' + fallback;
  };

  const register = async (button) => {
    const csrf = button.dataset.csrf;
    const started = await post('/passkeys/register/start', { csrf });
    const pk = started.publicKey;
    pk.challenge = fromB64u(pk.challenge);
    pk.user.id = fromB64u(pk.user.id);
    (pk.excludeCredentials || []).forEach((c) => { c.id = fromB64u(c.id); });
    const cred = await navigator.credentials.create({ publicKey: pk });
    const answer = {
      id: cred.id,
      rawId: toB64u(cred.rawId),
      type: cred.type,
      response: {
        attestationObject: toB64u(cred.response.attestationObject),
        clientDataJSON: toB64u(cred.response.clientDataJSON),
        transports: typeof cred.response.getTransports === 'function' ? cred.response.getTransports() : undefined,
      },
      extensions: cred.getClientExtensionResults(),
    };
    await post('/passkeys/register/finish', { csrf, ceremony: started.ceremony, credential: JSON.stringify(answer) });
    go(button.dataset.next || '/profile');
  };

  // The pending autofill request (conditional mediation) of the email form;
  // the button cancels it before asking at once.
  let autofill = null;
  const stopAutofill = () => {
    if (autofill) autofill.abort();
    autofill = null;
  };

  const signIn = async (button, conditional) => {
    let signal;
    if (conditional) {
      autofill = new AbortController();
      signal = autofill.signal;
    } else {
      stopAutofill();
    }
    const fields = { login_challenge: button.dataset.challenge, csrf: button.dataset.csrf };
    if (button.dataset.mode) fields.mode = button.dataset.mode;
    const started = await post('/login/passkey/start', fields, signal);
    if (signal && signal.aborted) throw new DOMException('Cancelled', 'AbortError');
    const pk = started.publicKey;
    pk.challenge = fromB64u(pk.challenge);
    (pk.allowCredentials || []).forEach((c) => { c.id = fromB64u(c.id); });
    const request = { publicKey: pk };
    if (conditional) {
      request.mediation = 'conditional';
      request.signal = signal;
    }
    const cred = await navigator.credentials.get(request);
    if (conditional) autofill = null;
    const r = cred.response;
    const answer = {
      id: cred.id,
      rawId: toB64u(cred.rawId),
      type: cred.type,
      response: {
        authenticatorData: toB64u(r.authenticatorData),
        clientDataJSON: toB64u(r.clientDataJSON),
        signature: toB64u(r.signature),
        userHandle: r.userHandle ? toB64u(r.userHandle) : null,
      },
      extensions: cred.getClientExtensionResults(),
    };
    const done = await post('/login/passkey/finish', { ...fields, ceremony: started.ceremony, credential: JSON.stringify(answer) });
    go(done.next);
  };

  const run = (button, action, fallback, after) => async () => {
    if (button.disabled) return;
    button.disabled = true;
    status(button, '');
    try {
      await action(button);
    } catch (err) {
      status(button, explain(err, fallback));
      button.disabled = false;
      button.focus();
      if (after) after();
    }
  };

  const start = async () => {
    // Tells the server whether to offer passkeys: any WebAuthn browser at the
    // email step (set at once, before the user can submit); one with a
    // built-in authenticator after a passcode (below).
    document.querySelectorAll('[data-passkey-capable="any"]').forEach((input) => { input.value = supported ? '1' : ''; });
    if (!supported) return;

    // The email field offers the browser's passkeys as it autocompletes
    // (`autocomplete="username webauthn"`), where the browser can; renewed
    // before the ceremony's challenge expires, and after the button failed.
    const fallback = 'Try again, or sign in with a passcode by email.';
    const conditional = document.querySelector('[data-passkey-conditional]');
    let renew = null;
    const startAutofill = async () => {
      if (!conditional || typeof PublicKeyCredential.isConditionalMediationAvailable !== 'function') return;
      if (!(await PublicKeyCredential.isConditionalMediationAvailable().catch(() => false))) return;
      clearTimeout(renew);
      renew = setTimeout(() => { stopAutofill(); startAutofill(); }, 4 * 60 * 1000);
      signIn(conditional, true).catch((err) => {
        // Cancelled by the button or the renewal, or the page moving on: nothing to say.
        if (err && (err.name === 'AbortError' || err.name === 'NotAllowedError')) return;
        // Not asked again by itself (an authenticator that answers at once
        // would loop); the button asks again.
        clearTimeout(renew);
        status(conditional, explain(err, fallback));
      });
    };

    // Every control works before it is shown.
    document.querySelectorAll('[data-passkey-register]').forEach((b) => {
      b.addEventListener('click', run(b, register, 'You can try again, or go on without a passkey.'));
    });
    const automatic = [];
    document.querySelectorAll('[data-passkey-signin]').forEach((b) => {
      const ask = run(b, (button) => signIn(button, false), fallback, b === conditional ? startAutofill : null);
      b.addEventListener('click', ask);
      if (b.hasAttribute('data-passkey-auto')) automatic.push(ask);
    });
    document.querySelectorAll('[data-passkey-only]').forEach((el) => { el.hidden = false; });
    automatic.forEach((ask) => ask());
    startAutofill();

    const platform = typeof PublicKeyCredential.isUserVerifyingPlatformAuthenticatorAvailable === 'function'
      && await PublicKeyCredential.isUserVerifyingPlatformAuthenticatorAvailable().catch(() => false);
    document.querySelectorAll('[data-passkey-capable="platform"]').forEach((input) => { input.value = platform ? '1' : ''; });
  };

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', start);
  } else {
    start();
  }
})();
