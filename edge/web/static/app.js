// TensorChicken's page: refresh the live pictures and state, ask before big changes, show a
// job's progress. No libraries: everything the page needs ships with the appliance.
"use strict";

function everyMs(ms, fn) {
  // Stop asking while the page is hidden (a phone in a pocket costs the Pi nothing).
  fn();
  setInterval(function () { if (!document.hidden) { fn(); } }, ms);
}

function refreshPicture(img) {
  var next = new Image();
  next.onload = function () { img.src = next.src; img.dataset.loaded = String(Date.now()); };
  next.src = img.dataset.live + "?t=" + Date.now();
}

function text(id, value) {
  var el = document.getElementById(id);
  if (el && el.textContent !== value) { el.textContent = value; }
}

function refreshState(url) {
  fetch(url, { cache: "no-store" }).then(function (r) { return r.json(); }).then(function (s) {
    text("armed-state", s.armed ? "ARMED" : "DISARMED");
    var st = document.getElementById("armed-state");
    if (st) { st.className = "state " + (s.armed ? "on" : "off"); }
    text("quiet-state", s.quiet ? "quiet hours now" : "not quiet hours");
    Object.keys(s.cameras).forEach(function (name) {
      var c = s.cameras[name];
      text("verdict-" + name, c.verdict ? c.verdict + " · " + c.label + " " +
           c.score.toFixed(2) + " · " + c.rule + " · " + c.age : "nothing classified yet");
    });
    Object.keys(s.deterrents).forEach(function (name) {
      text("deterrent-" + name, s.deterrents[name] ? "ON" : "off");
    });
  }).catch(function () { text("live-error", "the appliance does not answer"); });
}

function followJob(pre) {
  fetch(pre.dataset.job, { cache: "no-store" }).then(function (r) { return r.json(); })
    .then(function (j) {
      pre.textContent = j.lines.join("\n");
      text("job-state", j.state + (j.title ? ": " + j.title : ""));
      if (j.state === "running") { setTimeout(function () { followJob(pre); }, 1500); }
    });
}

document.addEventListener("DOMContentLoaded", function () {
  var period = Number(document.body.querySelector("[data-refresh-ms]") ?
    document.body.querySelector("[data-refresh-ms]").dataset.refreshMs : 2000);
  document.querySelectorAll("img[data-live]").forEach(function (img) {
    everyMs(period, function () { refreshPicture(img); });
  });
  var state = document.querySelector("[data-state]");
  if (state) { everyMs(period, function () { refreshState(state.dataset.state); }); }
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (e) {
      if (!window.confirm(form.dataset.confirm)) { e.preventDefault(); }
    });
  });
  document.querySelectorAll("pre[data-job]").forEach(followJob);
  document.querySelectorAll("select[data-autosubmit]").forEach(function (sel) {
    sel.addEventListener("change", function () { sel.form.submit(); });
  });
});
