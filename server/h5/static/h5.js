// Optional: the pages are plain forms. This asks before a cancel and stops a second tap from posting twice.
document.addEventListener("submit", function (e) {
  var f = e.target, b = f.querySelector("button[type=submit]");
  if (f.dataset.confirm && !window.confirm(f.dataset.confirm)) { e.preventDefault(); return; }
  if (b) { setTimeout(function () { b.disabled = true; }, 0); }
});
window.addEventListener("pageshow", function () {
  document.querySelectorAll("button[type=submit]").forEach(function (b) { b.disabled = false; });
});
