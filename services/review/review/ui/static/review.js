// Keyboard shortcuts and the reveal toggle of the review UI. No framework:
// the pages work without this file; it only adds shortcuts.
"use strict";
(function () {
  function byId(id) { return document.getElementById(id); }

  // The page shows the service's blurred preview; the media itself is
  // requested (from the service) only on the first reveal.
  function toggleReveal() {
    var media = byId("media");
    var preview = byId("preview");
    var button = byId("reveal");
    if (!media) { return; }
    var reveal = media.hidden;
    if (reveal && !media.getAttribute("src")) { media.setAttribute("src", media.dataset.src); }
    media.hidden = !reveal;
    if (preview) { preview.hidden = reveal; }
    if (!reveal && media.pause) { media.pause(); }
    if (button) { button.textContent = reveal ? "Hide (r)" : "Reveal (r)"; }
  }

  function decide(decision) {
    var reason = byId("reason");
    var button = byId(decision);
    if (!reason || !button) { return; }
    if (!reason.value.trim()) {
      // A decision needs a reason: ask for it instead of submitting.
      reason.focus();
      reason.setAttribute("placeholder", "Say why before deciding, then press Esc and " + decision.charAt(0));
      return;
    }
    button.click();
  }

  function click(id) {
    var el = byId(id);
    if (el) { el.click(); }
  }

  // A sign-in link (/ui/login#token=TOKEN, which takedownctl dev prints)
  // signs in with the token it carries. The token travels in the fragment,
  // which the browser never sends: it reaches the service only in the
  // form's POST, as a pasted one does, and is dropped from the address bar
  // and history at once.
  function signInFromLink() {
    var form = byId("login-form");
    var field = byId("token");
    var m = /^#token=([^&]+)/.exec(window.location.hash);
    if (!form || !field || !m) { return; }
    window.history.replaceState(null, "", window.location.pathname + window.location.search);
    field.value = decodeURIComponent(m[1]);
    click("login-button");
  }

  document.addEventListener("DOMContentLoaded", function () {
    var reveal = byId("reveal");
    if (reveal) { reveal.addEventListener("click", toggleReveal); }
    signInFromLink();
  });

  document.addEventListener("keydown", function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey || e.repeat) { return; }
    var t = e.target;
    var typing = t && (t.tagName === "TEXTAREA" || t.tagName === "INPUT" || t.tagName === "SELECT" || t.isContentEditable);
    if (typing) {
      if (e.key === "Escape") { t.blur(); }
      return;
    }
    switch (e.key) {
      case "c": click("claim-button"); break;
      case "r": toggleReveal(); break;
      case "v": decide("violating"); break;
      case "b": decide("benign"); break;
      case "n": window.location.href = "/ui/next"; break;
      default: return;
    }
    e.preventDefault();
  });
})();
