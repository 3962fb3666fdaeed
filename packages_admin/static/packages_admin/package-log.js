"use strict";
// Show the end of each install log: that is where a running install is. A static file, not an
// inline script, so the Content-Security-Policy needs no 'unsafe-inline' (docs/security.md).
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll(".package-log").forEach((log) => {
    log.scrollTop = log.scrollHeight;
  });
});
