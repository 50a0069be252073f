// The inspector's page script, embedded in the binary. Every captured value is put in the page
// with textContent, never as markup.
'use strict';

(function () {
  const table = document.getElementById('requests');
  if (table) {
    liveList(table);
  }
  for (const button of document.querySelectorAll('#replay, #replay-resign')) {
    button.addEventListener('click', () => replay(button));
  }
  const copy = document.getElementById('copy-curl');
  if (copy) {
    copy.addEventListener('click', copyCurl);
  }

  function say(text) {
    const result = document.getElementById('action-result');
    if (result) {
      result.textContent = text;
    }
  }

  function cell(row, text, className) {
    const td = row.insertCell();
    td.textContent = text === null || text === undefined ? '' : String(text);
    if (className) {
      td.className = className;
    }
    return td;
  }

  function liveList(table) {
    const body = table.tBodies[0];
    const keep = Number(table.dataset.keep) || 500;
    const outcomeFilter = document.getElementById('outcome-filter');
    const typeFilter = document.getElementById('type-filter');
    const live = document.getElementById('live');
    const empty = document.getElementById('empty');
    const count = document.getElementById('count');
    const types = new Set(Array.from(typeFilter.options, (o) => o.value).filter((v) => v));

    function applyFilters() {
      const outcome = outcomeFilter.value;
      const type = typeFilter.value;
      let shown = 0;
      for (const row of body.rows) {
        const visible = (!outcome || row.dataset.outcome === outcome) &&
          (!type || row.dataset.type === type);
        row.hidden = !visible;
        if (visible) {
          shown += 1;
        }
      }
      count.textContent = `${shown} of ${body.rows.length} shown`;
      empty.hidden = body.rows.length > 0;
    }

    function addType(type) {
      if (type && !types.has(type)) {
        types.add(type);
        const option = document.createElement('option');
        option.value = type;
        option.textContent = type;
        typeFilter.appendChild(option);
      }
    }

    function add(entry) {
      const seq = Number(entry.seq);
      let before = null;
      for (const row of body.rows) {
        const other = Number(row.dataset.seq);
        if (other === seq) {
          return;
        }
        if (other < seq) {
          before = row;
          break;
        }
      }
      const row = document.createElement('tr');
      row.dataset.seq = String(seq);
      row.dataset.outcome = entry.outcome || '';
      row.dataset.type = entry.type || '';
      row.className = 'new';
      const link = document.createElement('a');
      link.href = `/requests/${seq}`;
      link.textContent = `#${seq}`;
      cell(row, '').appendChild(link);
      const time = cell(row, new Date(entry.received_at).toISOString().slice(11, 19));
      time.title = entry.received_at;
      cell(row, entry.id, 'mono');
      cell(row, entry.type);
      const badge = document.createElement('span');
      badge.className = `outcome o-${entry.outcome}`;
      badge.textContent = entry.outcome;
      cell(row, '').appendChild(badge);
      cell(row, entry.status);
      cell(row, entry.reason, 'reason');
      body.insertBefore(row, before);
      while (body.rows.length > keep) {
        body.deleteRow(-1);
      }
      addType(entry.type);
    }

    function catchUp() {
      fetch('/api/requests')
        .then((response) => response.json())
        .then((data) => {
          for (const entry of data.requests.slice().reverse()) {
            add(entry);
          }
          applyFilters();
        })
        .catch(() => {});
    }

    outcomeFilter.addEventListener('change', applyFilters);
    typeFilter.addEventListener('change', applyFilters);
    applyFilters();

    const source = new EventSource('/api/stream');
    source.addEventListener('open', () => {
      live.textContent = 'live';
      live.className = 'live on';
      // What arrived between the page and the stream.
      catchUp();
    });
    source.addEventListener('error', () => {
      live.textContent = 'reconnecting…';
      live.className = 'live off';
    });
    source.addEventListener('message', (event) => {
      add(JSON.parse(event.data));
      applyFilters();
    });
    source.addEventListener('lagged', catchUp);
  }

  function replay(button) {
    const resign = button.dataset.resign === 'true';
    say(resign ? 'replaying, re-signed…' : 'replaying…');
    fetch(`/api/requests/${button.dataset.seq}/replay`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ resign }),
    })
      .then(async (response) => {
        const data = await response.json();
        if (!response.ok) {
          throw new Error(data.error || `HTTP ${response.status}`);
        }
        window.location.href = `/requests/${data.seq}`;
      })
      .catch((error) => say(String(error.message)));
  }

  function copyCurl() {
    const text = document.getElementById('curl').textContent;
    if (navigator.clipboard) {
      navigator.clipboard.writeText(text).then(() => say('copied'), () => say('select the command below to copy it'));
    } else {
      say('select the command below to copy it');
    }
  }
})();
