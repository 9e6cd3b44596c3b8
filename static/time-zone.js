// Tell forms the browser's time zone (an IANA name such as "Europe/Paris"), so that a chosen
// day means the end of that day where the user is (core/usertime.py).
(function () {
  var zone = "";
  try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) { zone = ""; }
  document.querySelectorAll('input[name="time_zone"]').forEach(function (input) { input.value = zone; });
})();
