// Passkeys (WebAuthn) on the sign-in and account pages. The pages work without this
// script (password and code); with it, and a browser that knows WebAuthn, the passkey
// buttons appear. It only moves JSON between the hub and navigator.credentials: every
// check is the server's. Loaded as a file (the CSP allows no inline script).
(function () {
  "use strict";
  if (!window.PublicKeyCredential || !navigator.credentials) {
    return;
  }

  function toBytes(text) {
    var b64 = text.replace(/-/g, "+").replace(/_/g, "/");
    while (b64.length % 4) {
      b64 += "=";
    }
    var raw = atob(b64);
    var out = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) {
      out[i] = raw.charCodeAt(i);
    }
    return out.buffer;
  }

  function toText(buffer) {
    if (!buffer) {
      return null;
    }
    var bytes = new Uint8Array(buffer);
    var raw = "";
    for (var i = 0; i < bytes.length; i++) {
      raw += String.fromCharCode(bytes[i]);
    }
    return btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function post(url, csrf, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(body)
    }).then(function (response) {
      return response.json().then(function (data) {
        if (!response.ok) {
          var failure = new Error(data.error || "failed");
          failure.next = data.next;
          throw failure;
        }
        return data;
      });
    });
  }

  function descriptors(list) {
    return (list || []).map(function (d) {
      return { type: d.type, id: toBytes(d.id), transports: d.transports };
    });
  }

  function getOptions(json) {
    var o = JSON.parse(json);
    return {
      challenge: toBytes(o.challenge),
      rpId: o.rpId,
      timeout: o.timeout,
      userVerification: o.userVerification,
      allowCredentials: descriptors(o.allowCredentials)
    };
  }

  function createOptions(json) {
    var o = JSON.parse(json);
    return {
      challenge: toBytes(o.challenge),
      rp: o.rp,
      user: { id: toBytes(o.user.id), name: o.user.name, displayName: o.user.displayName },
      pubKeyCredParams: o.pubKeyCredParams,
      timeout: o.timeout,
      excludeCredentials: descriptors(o.excludeCredentials),
      authenticatorSelection: o.authenticatorSelection,
      attestation: o.attestation
    };
  }

  function assertionJSON(cred) {
    return {
      id: cred.id,
      rawId: toText(cred.rawId),
      type: cred.type,
      response: {
        clientDataJSON: toText(cred.response.clientDataJSON),
        authenticatorData: toText(cred.response.authenticatorData),
        signature: toText(cred.response.signature),
        userHandle: toText(cred.response.userHandle)
      },
      clientExtensionResults: cred.getClientExtensionResults()
    };
  }

  function attestationJSON(cred) {
    var r = cred.response;
    return {
      id: cred.id,
      rawId: toText(cred.rawId),
      type: cred.type,
      response: {
        clientDataJSON: toText(r.clientDataJSON),
        attestationObject: toText(r.attestationObject),
        transports: r.getTransports ? r.getTransports() : []
      },
      clientExtensionResults: cred.getClientExtensionResults()
    };
  }

  function showError(box, failure) {
    var shown = box.querySelector("[data-passkey-error]");
    if (shown) {
      shown.hidden = false;
    }
    if (failure && failure.next) {
      window.location.assign(failure.next);
    }
  }

  // Sign-in: passwordless on the first page, the second factor on the code page.
  document.querySelectorAll("[data-passkey]").forEach(function (box) {
    box.hidden = false;
    var button = box.querySelector("button[data-mode]");
    if (!button) {
      return;
    }
    button.addEventListener("click", function () {
      var csrf = button.dataset.csrf;
      button.disabled = true;
      post("/sso/passkey/options", csrf, { mode: button.dataset.mode })
        .then(function (data) {
          return navigator.credentials.get({ publicKey: getOptions(data.options) });
        })
        .then(function (cred) {
          return post("/sso/passkey/verify", csrf, {
            credential: assertionJSON(cred),
            next: button.dataset.next || null
          });
        })
        .then(function (data) {
          window.location.assign(data.next);
        })
        .catch(function (failure) {
          button.disabled = false;
          showError(box, failure);
        });
    });
  });

  // Enrolment at /account/passkeys: name it, create it, send it, show the list again.
  var form = document.getElementById("passkey-add");
  if (form) {
    form.hidden = false;
    document.querySelectorAll("[data-passkey-nojs]").forEach(function (note) {
      note.hidden = true;
    });
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var csrf = form.dataset.csrf;
      var name = form.elements.name.value;
      post(form.dataset.options, csrf, {})
        .then(function (data) {
          return navigator.credentials.create({ publicKey: createOptions(data.options) });
        })
        .then(function (cred) {
          return post(form.dataset.add, csrf, { name: name, credential: attestationJSON(cred) });
        })
        .then(function (data) {
          window.location.assign(data.next);
        })
        .catch(function (failure) {
          showError(form, failure);
        });
    });
  }
})();
