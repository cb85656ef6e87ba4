// srmeta compare: sortable tables, crop zoom and the before/after slider. No libraries.
(function () {
  "use strict";

  function cellValue(row, index) {
    var cell = row.cells[index];
    if (cell.dataset.v === undefined) {
      return cell.textContent;
    }
    return cell.dataset.v === "" ? null : parseFloat(cell.dataset.v);
  }

  function compare(a, b) {
    if (a === null || b === null) {
      return (a === null) - (b === null);
    }
    if (typeof a === "number" && typeof b === "number") {
      return a - b;
    }
    return String(a).localeCompare(String(b), undefined, { numeric: true });
  }

  function sortBy(table, header, index) {
    var ascending = header.getAttribute("aria-sort") !== "ascending";
    table.querySelectorAll("th").forEach(function (th) { th.removeAttribute("aria-sort"); });
    header.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (r, s) {
      var a = cellValue(r, index), b = cellValue(s, index);
      // missing values last either way
      if (a === null || b === null) {
        return compare(a, b);
      }
      return ascending ? compare(a, b) : compare(b, a);
    });
    rows.forEach(function (row) { body.appendChild(row); });
  }

  document.querySelectorAll("table.sortable").forEach(function (table) {
    table.querySelectorAll("thead th").forEach(function (header, index) {
      header.tabIndex = 0;
      header.addEventListener("click", function () { sortBy(table, header, index); });
      header.addEventListener("keydown", function (event) {
        if (event.key === "Enter" || event.key === " ") {
          event.preventDefault();
          sortBy(table, header, index);
        }
      });
    });
  });

  var zoom = document.getElementById("zoom");
  if (zoom) {
    var shown = document.getElementById("zoom-value");
    var setZoom = function () {
      document.documentElement.style.setProperty("--zoom", zoom.value);
      shown.textContent = zoom.value + "\u00d7";
    };
    zoom.addEventListener("input", setZoom);
    setZoom();
  }

  document.querySelectorAll("figure.slider").forEach(function (slider) {
    var range = slider.querySelector("input[type=range]");
    range.addEventListener("input", function () {
      slider.style.setProperty("--pos", range.value);
    });
  });

  var choice = document.getElementById("slider-model");
  if (choice) {
    choice.addEventListener("change", function () {
      document.querySelectorAll("article.crop").forEach(function (crop) {
        var panel = Array.prototype.find.call(crop.querySelectorAll("img[data-label]"),
          function (img) { return img.dataset.label === choice.value; });
        if (panel) {
          crop.querySelector(".slider .after").src = panel.src;
          crop.querySelector(".slider .after-label").textContent = choice.value;
        }
      });
    });
  }
}());
