// The Copy button of the pages that show a new secret once (templates/apikeys/reveal.html,
// templates/oauth/client_secret.html). It is shown only once it works: a button that did nothing
// (this script not loaded yet, or not at all) would let someone leave believing it copied.
(function () {
  var button = document.getElementById("copy-key");
  var input = document.getElementById("raw-key");
  var status = document.getElementById("copy-status");
  function done(ok) {
    status.textContent = ok ? "Copied to the clipboard." : "Copy failed: select the key and copy it by hand.";
    if (ok) { button.textContent = "Copied"; }
  }
  button.addEventListener("click", function () {
    input.focus();
    input.select();
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(input.value).then(function () { done(true); }, function () { done(document.execCommand("copy")); });
    } else {
      var ok = false;
      try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
      done(ok);
    }
  });
  button.hidden = false;
})();
