// The Copy buttons of the admin pages that show a new secret once.
document.querySelectorAll(".copy-key").forEach(function (button) {
  button.addEventListener("click", function () {
    var input = document.getElementById(button.dataset.copyTarget);
    input.focus();
    input.select();
    var copied = function () { button.textContent = "Copied"; };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(input.value).then(copied, function () {
        if (document.execCommand("copy")) { copied(); }
      });
    } else if (document.execCommand("copy")) {
      copied();
    }
  });
});
