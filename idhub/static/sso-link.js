// The one-time link carries its token in the URL fragment, which browsers never send to a
// server (so no access log, proxy or Referer holds it). Hand it over once in a POST body,
// and drop it from the address bar and history first.
(function () {
  "use strict";
  var form = document.getElementById("link-form");
  var token = window.location.hash.replace(/^#/, "");
  if (!form || !token) {
    return;
  }
  window.history.replaceState(null, "", window.location.pathname);
  form.elements.link.value = decodeURIComponent(token);
  form.submit();
})();
