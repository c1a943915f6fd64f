// COWS screen: a live running total and band as items are chosen. Progressive
// enhancement only: without this script the form works the same and the server
// computes the official total when it is saved.
(function () {
  'use strict';
  var form = document.getElementById('cows-form');
  var live = document.getElementById('cows-live');
  if (!form || !live) return;
  var totalOut = document.getElementById('cows-live-total');
  var bandOut = document.getElementById('cows-live-band');
  var countOut = document.getElementById('cows-live-count');
  var bandRows = Array.prototype.slice.call(document.querySelectorAll('#cows-bands tr[data-min]'));
  var items = Array.prototype.slice.call(form.querySelectorAll('fieldset.item'));

  function update() {
    var total = 0;
    var answered = 0;
    items.forEach(function (item) {
      var chosen = item.querySelector('input[type=radio]:checked');
      if (chosen) {
        answered += 1;
        total += Number(chosen.value) || 0;
      }
    });
    var band = '';
    bandRows.forEach(function (row) {
      var min = Number(row.getAttribute('data-min'));
      var max = Number(row.getAttribute('data-max'));
      var current = total >= min && total <= max;
      row.classList.toggle('current', current && answered > 0);
      if (current) band = row.getAttribute('data-label');
    });
    totalOut.textContent = String(total);
    bandOut.textContent = answered > 0 ? band : '–';
    countOut.textContent = answered + ' of ' + items.length + ' items scored';
    live.classList.toggle('complete', answered === items.length);
  }

  form.addEventListener('change', update);
  form.addEventListener('reset', function () { window.setTimeout(update, 0); });
  live.hidden = false;
  update();
})();
