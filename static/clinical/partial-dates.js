/* Dates known only to the month (#13): while a date's precision select says "month only", the date is a
 * month field (<input type="month">, YYYY-MM); back to "exact day", a date field. Without this script the
 * server accepts either YYYY-MM or YYYY-MM-DD, so the form works all the same. */
(function () {
  "use strict";

  function swap(select) {
    var input = document.getElementById(select.getAttribute("data-date-input"));
    if (!input) {
      return;
    }
    var month = select.value === "month";
    var value = input.value;
    if (month && input.type !== "month") {
      input.type = "month";
      input.value = value ? value.slice(0, 7) : ""; // the month of the date typed so far
    } else if (!month && input.type !== "date") {
      input.type = "date";
      input.value = ""; // the day is not known yet: the user gives it, nothing is made up
    }
  }

  function init() {
    var selects = document.querySelectorAll("select.date-precision[data-date-input]");
    Array.prototype.forEach.call(selects, function (select) {
      select.addEventListener("change", function () {
        swap(select);
      });
      swap(select);
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
