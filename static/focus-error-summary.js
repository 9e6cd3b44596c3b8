// A form page re-rendered with errors: move the focus to their summary, so it is read first.
document.getElementById("error-summary").focus();
