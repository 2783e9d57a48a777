// Every label and value of the last dashboard on the page: [] when all are readable.
// Readable: shown, not cut (scrollWidth within clientWidth, no trailing "..."), inside the notebook panel
// (or the page, in Voila) and the viewport, right of the file browser, and seen without scrolling sideways.
// Each element is brought into view by scrolling its vertical scroller only, as a reader would.
// Then, the dashboard scrolled to the top, the buttons, the status line (one line) and the plot fit on screen.
() => {
  const root = [...document.querySelectorAll('.colearn-dashboard')].pop();
  if (!root) return ['no dashboard on the page'];
  const panel = (root.closest('.jp-NotebookPanel') || document.body).getBoundingClientRect();
  const sidebar = document.querySelector('#filebrowser');
  const left = Math.max(panel.left, sidebar && sidebar.offsetWidth ? sidebar.getBoundingClientRect().right : 0);
  const right = Math.min(panel.right, window.innerWidth);
  const problems = [];
  for (let el = root; el; el = el.parentElement) {
    const name = el.className || el.tagName;
    if (el.scrollLeft > 0) problems.push(`${name}: scrolled sideways by ${el.scrollLeft} px`);
    if (el.scrollWidth > el.clientWidth + 1 && getComputedStyle(el).overflowX !== 'visible' && el.contains(root)
        && el.closest('.jp-NotebookPanel, body') === (root.closest('.jp-NotebookPanel') || document.body))
      problems.push(`${name}: wider than shown (${el.scrollWidth} > ${el.clientWidth} px)`);
  }
  const box = root.getBoundingClientRect();
  if (box.left < left - 1 || box.right > right + 1) problems.push(`dashboard: x ${box.left}-${box.right} outside ${left}-${right}`);
  const scroller = el => {
    for (let a = el.parentElement; a; a = a.parentElement) {
      const overflow = getComputedStyle(a).overflowY;
      if ((overflow === 'auto' || overflow === 'scroll') && a.scrollHeight > a.clientHeight) return a;
    }
    return document.scrollingElement;
  };
  const bringIntoView = el => {
    const s = scroller(el), r = el.getBoundingClientRect();
    const area = s === document.scrollingElement ? {top: 0, bottom: window.innerHeight} : s.getBoundingClientRect();
    if (r.top < area.top) s.scrollTop -= area.top - r.top;
    else if (r.bottom > area.bottom) s.scrollTop += Math.min(r.bottom - area.bottom, r.top - area.top);
    return s === document.scrollingElement ? {top: 0, bottom: window.innerHeight} : s.getBoundingClientRect();
  };
  const plot = root.querySelector('.colearn-plot');
  const look = (el, what, expected) => {
    if (!el) { problems.push(`${what}: missing`); return; }
    const area = bringIntoView(el), r = el.getBoundingClientRect(), text = el.innerText.trim();
    const p = plot && el !== plot && plot.getBoundingClientRect();
    if (p && r.left < p.right - 1 && p.left < r.right - 1 && r.top < p.bottom - 1 && p.top < r.bottom - 1)
      problems.push(`${what}: under or over the plot`);
    if (r.width < 2 || r.height < 2) problems.push(`${what}: not shown (${r.width}x${r.height})`);
    if (el.scrollWidth > el.clientWidth + 1) problems.push(`${what}: cut (${el.scrollWidth} > ${el.clientWidth} px)`);
    if (r.left < left - 1 || r.right > right + 1) problems.push(`${what}: x ${r.left}-${r.right} outside ${left}-${right}`);
    if (r.top < Math.max(area.top, 0) - 1 || r.bottom > Math.min(area.bottom, window.innerHeight) + 1)
      problems.push(`${what}: y ${r.top}-${r.bottom} outside the visible ${area.top}-${area.bottom}`);
    if (/(\.\.\.|\u2026)$/.test(text)) problems.push(`${what}: ends in ... (${text})`);
    if (expected !== undefined && text !== expected) problems.push(`${what}: reads ${JSON.stringify(text)}`);
  };
  for (const name of ['Run', 'Step', 'Pause', 'Reset'])
    look(root.querySelector(`.colearn-${name.toLowerCase()}`), `button ${name}`, name);
  for (const [cls, label] of [['threshold', 'vote threshold'], ['rounds', 'rounds per run']]) {
    const slider = root.querySelector(`.colearn-${cls}`);
    look(slider && slider.querySelector('.widget-label'), `${label} label`, label);
    const readout = slider && slider.querySelector('.widget-readout');
    look(readout, `${label} value`);
    if (readout && !/^\d+(\.\d+)?$/.test(readout.innerText.trim())) problems.push(`${label} value: ${readout.innerText}`);
    const track = slider && slider.querySelector('.slider-container');
    if (!track || track.getBoundingClientRect().width < 100) problems.push(`${label} slider: under 100 px wide`);
  }
  const status = root.querySelector('.colearn-status');
  look(status && status.querySelector('.widget-html-content'), 'status line');
  if (status && !/shared model: mean test/.test(status.innerText)) problems.push(`status: ${status.innerText}`);
  const cells = [...root.querySelectorAll('.colearn-votes caption, .colearn-votes th, .colearn-votes td')];
  if (cells.length < 4 * 6) problems.push(`vote table: ${cells.length} cells`);
  cells.forEach((cell, i) => look(cell, `vote table cell ${i} (${cell.innerText})`));
  const headers = [...root.querySelectorAll('.colearn-votes th')].map(th => th.innerText.trim());
  if (headers.join('|') !== 'learner|vote|vote score|test score') problems.push(`vote table headers: ${headers}`);
  look(plot, 'plot');
  if (plot && plot.getBoundingClientRect().width < 400) problems.push('plot: under 400 px wide');
  // After Step, with the dashboard scrolled to the top: the buttons, the status (one line) and the plot at once
  const statusText = status && status.querySelector('.widget-html-content');
  if (statusText) {
    const style = getComputedStyle(statusText), height = statusText.getBoundingClientRect().height;
    const line = parseFloat(style.lineHeight) || 1.2 * parseFloat(style.fontSize);
    if (height > 1.5 * line) problems.push(`status line: ${height} px tall, more than one line of ${line} px`);
  }
  root.scrollIntoView({block: 'start'});
  const s = scroller(root), screen = s === document.scrollingElement ? {top: 0, bottom: window.innerHeight}
    : s.getBoundingClientRect();
  const top = Math.max(screen.top, 0), bottom = Math.min(screen.bottom, window.innerHeight);
  for (const [what, el] of [['button Run', root.querySelector('.colearn-run')], ['status line', statusText],
                            ['plot', plot]]) {
    const r = el && el.getBoundingClientRect();
    if (r && (r.top < top - 1 || r.bottom > bottom + 1))
      problems.push(`${what}: y ${r.top}-${r.bottom} not on screen with the others (${top}-${bottom})`);
  }
  if (plot && (getComputedStyle(plot).visibility !== 'visible' || !plot.naturalWidth)) problems.push('plot: not shown');
  return problems;
}
