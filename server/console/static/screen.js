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
  var es = new EventSource(src);
  es.addEventListener("board", function (e) { board(JSON.parse(e.data)); });
  es.addEventListener("call", function (e) { show(JSON.parse(e.data)); });
  es.onopen = function () { conn.textContent = ""; document.body.dataset.live = "1"; };
  es.onerror = function () { conn.textContent = "连接中断，正在重连…"; document.body.dataset.live = "0"; };
})();
