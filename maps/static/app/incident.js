/* The incident page's moves (grid/api/templates/incident.html): a button opens its form; the
 * form uploads the photo, if any, then posts the move to the incident API; the page reloads
 * to show the case as the engine left it. The engine decides what is allowed: the page only
 * offers the moves GET /api/v1/work/incidents/{id}/moves would name. */
(function () {
  'use strict';
  var App = window.GridApp, T = App.t;
  var facts = document.getElementById('facts');
  if (!facts) { return; }
  var id = facts.getAttribute('data-id');
  var error = document.getElementById('move-error');
  var PATHS = {escalate: 'escalate', send_back: 'send-back', resolve: 'resolve',
    whistle: 'whistle', report_in: 'report-in', finish: 'finish', close: 'close',
    rate: 'rate', merge: 'merge'};

  function show(message) { error.textContent = message; error.hidden = !message; }

  document.querySelectorAll('button.move').forEach(function (button) {
    button.addEventListener('click', function () {
      document.querySelectorAll('.move-form').forEach(function (f) {
        f.hidden = f.getAttribute('data-move') !== button.getAttribute('data-move');
      });
      show('');
      var form = document.getElementById('form-' + button.getAttribute('data-move'));
      var first = form.querySelector('input, textarea, select');
      if (first) { first.focus(); }
    });
  });
  document.querySelectorAll('.move-form .cancel').forEach(function (b) {
    b.addEventListener('click', function () { b.closest('form').hidden = true; show(''); });
  });

  function upload(file) {
    if (!file) { return Promise.resolve([]); }
    var data = new FormData();
    data.append('file', file, file.name || 'photo.jpg');
    show(T('uploading'));
    return App.api('/api/v1/incidents/attachments', {method: 'POST', body: data})
      .then(function (a) { return [a.id]; });
  }

  function body(move, form, attachments) {
    var reason = (form.elements.reason && form.elements.reason.value.trim()) || '';
    var pick = function (name) { return form.elements[name] ? form.elements[name].value : null; };
    if (move === 'whistle') {
      var chosen = Array.prototype.filter.call(form.querySelectorAll('input[name=departments]'),
        function (c) { return c.checked; }).map(function (c) { return c.value; });
      if (!chosen.length) { throw new Error(T('need_department')); }
      return {departments: chosen, reason: reason};
    }
    if (move === 'escalate' || move === 'send_back') {
      if (!reason) { throw new Error(T('need_reason')); }
    }
    if (move === 'send_back') { return {instructions: reason, attachments: attachments}; }
    if (move === 'report_in' || move === 'finish') {
      return {department: pick('department'), note: reason, attachments: attachments};
    }
    if (move === 'rate') {
      var rating = form.querySelector('input[name=rating]:checked');
      if (!rating) { throw new Error(T('need_rating')); }
      var who = pick('reporter_id');
      return {rating: rating.value, note: reason, reporter_id: who ? Number(who) : null};
    }
    if (move === 'merge') { return {into: Number(pick('into')), reason: reason}; }
    return {reason: reason, attachments: attachments};
  }

  document.querySelectorAll('.move-form').forEach(function (form) {
    form.addEventListener('submit', function (e) {
      e.preventDefault();
      var move = form.getAttribute('data-move');
      var confirm = form.querySelector('.confirm');
      try { body(move, form, []); } catch (err) { show(err.message); return; }
      confirm.disabled = true;
      var file = form.elements.photo && form.elements.photo.files[0];
      upload(file).then(function (attachments) {
        show(T('sending'));
        return App.api('/api/v1/incidents/' + id + '/' + PATHS[move],
          {method: 'POST', json: body(move, form, attachments)});
      }).then(function () {
        document.body.setAttribute('data-moved', move);
        window.location.reload();
      }, function (err) {
        confirm.disabled = false;
        show(err.message);
      });
    });
  });
})();
