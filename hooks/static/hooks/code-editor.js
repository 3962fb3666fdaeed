/* borgui: a line-number gutter beside every <textarea data-code-editor> (docs/hooks.md#script-library).
   Self-hosted, no dependencies, no inline script: the textarea stays the form field. */
(function () {
  "use strict";

  function lineCount(text) {
    var count = 1;
    for (var i = 0; i < text.length; i++) {
      if (text.charCodeAt(i) === 10) count++;
    }
    return count;
  }

  function attach(textarea) {
    var wrapper = document.createElement("div");
    wrapper.className = "code-editor";
    var gutter = document.createElement("pre");
    gutter.className = "code-editor-gutter";
    gutter.setAttribute("aria-hidden", "true");
    textarea.parentNode.insertBefore(wrapper, textarea);
    wrapper.appendChild(gutter);
    wrapper.appendChild(textarea);
    textarea.wrap = "off";
    textarea.spellcheck = false;

    var shown = 0;
    function renumber() {
      var lines = lineCount(textarea.value);
      if (lines !== shown) {
        var numbers = [];
        for (var n = 1; n <= lines; n++) numbers.push(n);
        gutter.textContent = numbers.join("\n") + "\n";
        shown = lines;
      }
      gutter.scrollTop = textarea.scrollTop;
    }
    textarea.addEventListener("input", renumber);
    textarea.addEventListener("scroll", function () { gutter.scrollTop = textarea.scrollTop; });
    // Tab indents (Shift+Tab and Esc then Tab still leave the field, for keyboard users).
    var escaped = false;
    textarea.addEventListener("keydown", function (event) {
      if (event.key === "Escape") { escaped = true; return; }
      if (event.key === "Tab" && !event.shiftKey && !escaped) {
        event.preventDefault();
        var start = textarea.selectionStart;
        textarea.setRangeText("    ", start, textarea.selectionEnd, "end");
        renumber();
      }
      escaped = false;
    });
    renumber();
    textarea.dataset.codeEditorReady = "true";
  }

  function start() {
    var fields = document.querySelectorAll("textarea[data-code-editor]");
    for (var i = 0; i < fields.length; i++) attach(fields[i]);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
