// The access console's live feed: the server pushes rows it has rendered (Server-Sent Events, JSON with HTML
// made by the same templates as the page) and this puts them on top. Without it, a reload shows the latest rows.
(function () {
  "use strict";
  var feed = document.querySelector("[data-live-feed]");
  if (!feed || !window.EventSource) return;
  var most = Number(feed.getAttribute("data-max")) || 30;
  var state = document.querySelector("[data-live-status]");
  var alarms = document.querySelector("[data-open-alarms]");

  function element(html) {
    var holder = document.createElement("template");
    holder.innerHTML = html.trim();
    return holder.content.firstElementChild;
  }

  function show(selector, visible) {
    var node = document.querySelector(selector);
    if (node) node.hidden = !visible;
  }

  function say(text, mode) {
    if (!state) return;
    state.textContent = text;
    state.className = "live-state " + mode;
  }

  function addRow(html) {
    feed.insertBefore(element(html), feed.firstElementChild);
    while (feed.children.length > most) feed.removeChild(feed.lastElementChild);
    show("[data-feed-empty]", false);
  }

  function gateNode(gateId, attribute) {
    var tile = document.querySelector('[data-gate="' + CSS.escape(gateId) + '"]');
    return tile ? tile.querySelector(attribute) : null;
  }

  function receive(message) {
    var data = JSON.parse(message.data);
    if (data.row) addRow(data.row);
    if (data.seen) {
      var seen = gateNode(data.gate_id, "[data-last-seen]");
      if (seen) seen.innerHTML = data.seen;
    }
    if (data.state) {
      var gateState = gateNode(data.gate_id, "[data-gate-state]");
      if (gateState) gateState.replaceWith(element(data.state));
    }
    if (alarms && "alarm" in data) {
      var card = alarms.querySelector('[data-alarm="' + data.number + '"]');
      if (data.alarm === null) {
        if (card) card.remove();
      } else if (card) {
        card.replaceWith(element(data.alarm));
      } else {
        alarms.insertBefore(element(data.alarm), alarms.firstElementChild);
      }
      show("[data-alarms-empty]", alarms.children.length === 0);
      var count = document.querySelector("[data-alarm-count]");
      if (count) count.textContent = String(alarms.children.length);
      var stat = document.querySelector("[data-alarm-stat]");
      if (stat) stat.classList.toggle("bad", alarms.children.length > 0);
    }
  }

  var source = new EventSource(feed.getAttribute("data-live-feed"));
  ["event", "alarm", "gate", "remote_open", "gap", "superseded"].forEach(function (kind) {
    source.addEventListener(kind, receive);
  });
  // the account opened the feed elsewhere once more than its share allows and this, its oldest, was ended:
  // stop here, or reconnecting would end the next oldest, and so on around the open tabs
  source.addEventListener("superseded", function (message) {
    source.close();
    say(JSON.parse(message.data).notice || "实时动态已停止", "off");
  });
  // after a reconnect the server replays what was missed; when it cannot, it says so once: keep that visible
  source.addEventListener("gap", function (message) {
    say(JSON.parse(message.data).notice || "有遗漏，请刷新", "off");
  });
  source.addEventListener("open", function () { say("实时更新中", "on"); });
  source.addEventListener("error", function () {
    say(source.readyState === EventSource.CLOSED ? "实时连接已断开，请刷新页面" : "连接中断，正在重连…", "off");
  });
})();
