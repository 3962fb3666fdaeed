// Live progress (docs/dashboard.md#progress). A page with `data-live-url` polls that JSON view
// every 2 s while one of its runs (`data-live-runs`, ids) is active, updates each job's
// bar and text (`data-job`), and reloads itself once the set of active runs has changed
// (a run ended or began), so that the page shows the result. No inline script: this file
// is served by borgui itself (a Content-Security-Policy without unsafe-inline allows it).
(function () {
  "use strict";
  var INTERVAL = 2000;

  function ids(text) {
    return (text || "").split(/\s+/).filter(Boolean).map(Number).sort(function (a, b) { return a - b; });
  }

  function same(a, b) {
    return a.length === b.length && a.every(function (value, i) { return value === b[i]; });
  }

  function updateJob(root, job) {
    var row = root.querySelector('[data-job="' + job.id + '"]');
    if (!row) { return false; }
    var bar = row.querySelector('[data-role="bar"]');
    if (bar) {
      if (job.percent === null) { bar.removeAttribute("value"); } else { bar.value = job.percent; }
      bar.textContent = job.percent === null ? "" : Math.round(job.percent) + " %";
    }
    var fields = { status: job.status, text: job.text, file: job.current_file };
    Object.keys(fields).forEach(function (role) {
      var element = row.querySelector('[data-role="' + role + '"]');
      if (element) { element.textContent = fields[role] || ""; }
    });
    row.className = row.className.replace(/\bstatus-\S+/, "status-" + job.status);
    var status = row.querySelector('[data-role="status"]');
    if (status) { status.className = status.className.replace(/\bstatus-\S+/, "status-" + job.status); }
    return true;
  }

  function watch(root) {
    var shown = ids(root.getAttribute("data-live-runs"));
    if (!shown.length) { return; }
    function poll() {
      fetch(root.getAttribute("data-live-url"), { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (data) {
          if (!data) { return window.setTimeout(poll, INTERVAL * 5); }  // signed out, or a server error: slow down
          var missing = false;
          data.runs.forEach(function (run) {
            run.jobs.forEach(function (job) { missing = !updateJob(root, job) || missing; });
          });
          if (missing || !same(ids(data.active.join(" ")), shown)) {
            root.setAttribute("data-live-finished", "true");
            window.location.reload();
            return;
          }
          window.setTimeout(poll, INTERVAL);
        })
        .catch(function () { window.setTimeout(poll, INTERVAL * 5); });
    }
    window.setTimeout(poll, INTERVAL);
  }

  function start() {
    Array.prototype.forEach.call(document.querySelectorAll("[data-live-url]"), watch);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
