// Call screen: listen to the hall's call events and show the newest call large, the previous ones beside it.
(function () {
  var src = document.currentScript.getAttribute("data-events");
  var now = document.getElementById("now-no"), win = document.getElementById("now-win");
  var recent = document.getElementById("recent"), conn = document.getElementById("conn");
  function show(call) {
    if (now.textContent !== "---") {
      var li = document.createElement("li");
      li.innerHTML = "<span></span><span></span>";
      li.children[0].textContent = now.textContent;
      li.children[1].textContent = win.textContent.replace("请到 ", "");
      recent.insertBefore(li, recent.firstChild);
      while (recent.children.length > 5) recent.removeChild(recent.lastChild);
    }
    now.textContent = call.number;
    win.textContent = "请到 " + call.window + " 号窗口";
    now.classList.remove("flashnew"); void now.offsetWidth; now.classList.add("flashnew");
  }
  function board(calls) {  // the whole board, sent first on every (re)connection
    recent.innerHTML = "";
    calls.slice(1, 6).forEach(function (c) {
      var li = document.createElement("li");
      li.innerHTML = "<span></span><span></span>";
      li.children[0].textContent = c.number;
      li.children[1].textContent = c.window + " 号窗口";
      recent.appendChild(li);
    });
    if (calls.length) { now.textContent = calls[0].number; win.textContent = "请到 " + calls[0].window + " 号窗口"; }
  }
  // The check-in QR turns every few minutes: fetch the new one when the server says, keep the old on errors.
  var qrSrc = document.currentScript.getAttribute("data-qr"), qr = document.getElementById("checkin-qr");
  var qrLabel = document.getElementById("checkin-qr-label");
  function refreshQr() {
    fetch(qrSrc, {cache: "no-store"}).then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (d) {
        var on = !!d.qr;
        if (on) { qr.src = d.qr.svg; qr.dataset.refreshIn = d.qr.refresh_in; qr.dataset.loaded = String(Date.now()); }
        qr.style.display = qrLabel.style.display = on ? "" : "none";
        setTimeout(refreshQr, (on ? d.qr.refresh_in : 60) * 1000);
      }, function () { setTimeout(refreshQr, 30000); });
  }
  setTimeout(refreshQr, (parseInt(qr.dataset.refreshIn, 10) || 5) * 1000);
  var es = new EventSource(src);
  es.addEventListener("board", function (e) { board(JSON.parse(e.data)); });
  es.addEventListener("call", function (e) { show(JSON.parse(e.data)); });
  es.onopen = function () { conn.textContent = ""; document.body.dataset.live = "1"; };
  es.onerror = function () { conn.textContent = "连接中断，正在重连…"; document.body.dataset.live = "0"; };
})();
