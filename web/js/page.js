// What both pages share: building elements (text only: nothing from the data is parsed as
// HTML), the header's "data as of" line and the alert line.

import { ApiError, TimeoutError } from './api.js';
import { t, fmtTime } from './i18n.js';

// h('td', { class: 'num', dataset: { lot: id } }, 'text', child, ...)
export function h(tag, attrs, ...children) {
	const el = document.createElement(tag);
	for (const [k, v] of Object.entries(attrs || {})) {
		if (v === null || v === undefined || v === false)
			continue;
		if (k === 'class')
			el.className = v;
		else if (k === 'dataset')
			Object.assign(el.dataset, v);
		else if (k === 'text')
			el.textContent = v;
		else if (k.startsWith('on'))
			el.addEventListener(k.slice(2), v);
		else
			el.setAttribute(k, v === true ? '' : v);
	}
	for (const c of children.flat()) {
		if (c !== null && c !== undefined && c !== false)
			el.append(c instanceof Node ? c : String(c));
	}
	return el;
}

let lastOk = null;

export function showUpdated() {
	const p = document.getElementById('updated');
	p.textContent = lastOk ? t('updated', { time: fmtTime(lastOk) }) : t('checking');
}

// A refresh worked: the alert goes, the time is shown.
export function refreshed() {
	lastOk = new Date();
	showUpdated();
	const a = document.getElementById('alert');
	a.hidden = true;
	a.textContent = '';
}

// A refresh failed: say why; the data shown stays.
export function refreshFailed(err) {
	const a = document.getElementById('alert');
	let why = t('error_network');
	if (err instanceof ApiError)
		why = err.detail || t('error_http', { status: err.status });
	else if (err instanceof TimeoutError)
		why = t('error_timeout');
	a.textContent = t('lost', { why });
	a.hidden = false;
}
