// Copy buttons: <button data-copy-target="ID"> copies the text of element ID.
// The Clipboard API needs a secure context (https or localhost) and permission; where it
// is missing or refused, the text is selected so the user can press Ctrl+C / Cmd+C.
(function () {
  "use strict";

  function select(element) {
    var range = document.createRange();
    range.selectNodeContents(element);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  function say(button, text) {
    var original = button.getAttribute("data-label") || button.textContent;
    button.setAttribute("data-label", original);
    button.textContent = text;
    button.classList.add("done");
    window.clearTimeout(button._copyTimer);
    button._copyTimer = window.setTimeout(function () {
      button.textContent = original;
      button.classList.remove("done");
    }, 2500);
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy-target]");
    if (!button) return;
    var target = document.getElementById(button.getAttribute("data-copy-target"));
    if (!target) return;
    var text = target.textContent.trim();
    // Selecting first shows what is being copied, and is the fallback.
    select(target);
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(
        function () { say(button, "Copied"); },
        function () { say(button, "Selected: press Ctrl+C"); }
      );
    } else {
      say(button, "Selected: press Ctrl+C");
    }
  });
})();
