// 实时监控: the state arrives by Server-Sent Events; ring counters tick here every 100 ms from the
// ring's start; a row turns amber at the 2nd ring by this clock and red when the server's alert
// (the server decides the limit) arrives.  data-red-at keeps this page's clock at that moment.
"use strict";
(function () {
  const STATES = {idle: "空闲", ringing: "振铃", talking: "通话", paused: "暂停", unavailable: "离线"};
  let state = null;
  const redAt = {};  // linkedid -> Date.now() when the alert came
  const body = document.querySelector("#ringing tbody");
  const ops = document.querySelector("#operators tbody");

  function cell(tr, text) { const td = document.createElement("td"); td.textContent = text; tr.appendChild(td); return td; }

  function render() {
    if (!state) return;
    document.getElementById("t-answered").textContent = state.today.answered;
    document.getElementById("t-within").textContent = state.today.within_limit;
    document.getElementById("t-abandoned").textContent = state.today.abandoned;
    document.getElementById("limit").textContent = state.ring_limit;
    body.textContent = "";
    if (state.calls.length === 0) {
      const tr = document.createElement("tr"); tr.className = "empty";
      const td = cell(tr, "没有正在振铃的电话"); td.colSpan = 5; body.appendChild(tr);
    }
    const now = Date.now();
    for (const c of state.calls) {
      const tr = document.createElement("tr");
      tr.dataset.linkedid = c.linkedid;
      cell(tr, c.caller || "");
      cell(tr, c.queue || "");
      cell(tr, c.operator || "（排队中）");
      let rings = 0, secs = 0;
      if (c.ring_started) {
        const ms = now - c.ring_started * 1000;
        secs = Math.max(0, ms / 1000);
        rings = Math.floor(Math.max(0, ms) / state.ring_period_ms) + 1;
        tr.dataset.ringStart = String(Math.round(c.ring_started * 1000));
      }
      cell(tr, rings ? rings + " 声" : "");
      cell(tr, c.ring_started ? secs.toFixed(1) : "");
      if (c.over_limit || redAt[c.linkedid]) {
        tr.className = "red";
        tr.dataset.redAt = String(redAt[c.linkedid] || now);
      } else if (rings >= 2) {
        tr.className = "amber";
      }
      body.appendChild(tr);
    }
    ops.textContent = "";
    for (const [name, s] of Object.entries(state.operators)) {
      const tr = document.createElement("tr");
      tr.dataset.operator = name; tr.className = "op-" + s.state;
      cell(tr, name); cell(tr, STATES[s.state] || s.state);
      cell(tr, s.since ? Math.max(0, Math.round((now - s.since * 1000) / 1000)) + " 秒" : "");
      ops.appendChild(tr);
    }
  }

  const source = new EventSource("/api/live/stream");
  source.addEventListener("state", (e) => { state = JSON.parse(e.data); render(); });
  source.addEventListener("alert", (e) => {
    const a = JSON.parse(e.data);
    redAt[a.linkedid] = Date.now();
    if (state) {
      for (const c of state.calls) if (c.linkedid === a.linkedid) c.over_limit = true;
      render();
    }
  });
  setInterval(render, 100);
})();
