// Live progress (docs/dashboard.md#progress). A page with `data-live-url` polls that JSON view
// every 2 s while one of its runs (`data-live-runs`, ids) is active, updates each job's
// bar and text (`data-job`), and reloads itself once the set of active runs has changed
// (a run ended or began), so that the page shows the result. No inline script: this file
// is served by borgui itself (a Content-Security-Policy without unsafe-inline allows it).
(function () {
  "use strict";
  var INTERVAL = 2000;
  var SWAP_EVERY = 2;

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

  // Sections marked data-live-swap (the run's timeline, with the hook output saved every
  // 2 s while a hook runs) are read again from the page itself now and then, and replaced
  // unless the reader has opened one of their outputs.
  function swapSections() {
    var sections = document.querySelectorAll("[data-live-swap][id]");
    if (!sections.length) { return; }
    fetch(window.location.href, { credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (!html) { return; }
        var fresh = new DOMParser().parseFromString(html, "text/html");
        Array.prototype.forEach.call(sections, function (section) {
          var replacement = fresh.getElementById(section.id);
          if (replacement && !section.querySelector("details[open]")) { section.innerHTML = replacement.innerHTML; }
        });
      })
      .catch(function () {});
  }

  function watch(root) {
    var shown = ids(root.getAttribute("data-live-runs"));
    var polls = 0;
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
          polls += 1;
          if (polls % SWAP_EVERY === 0) { swapSections(); }
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
