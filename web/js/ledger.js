// The ledger page: the bureau's progress table for a year as of a day, as
// `parkfeedctl progress` prints it (the same rows, order, ranks and rates, from /v1/progress),
// kept current while it is open, printable.

import { t, applyStatic, setupSwitch, fmtInt, shanghaiDay } from './i18n.js';
import { getJSON, poll, refreshSeconds } from './api.js';
import { h, refreshed, refreshFailed, showUpdated } from './page.js';

const yearInput = document.getElementById('year');
const asOfInput = document.getElementById('as-of');
let ledger = null;
let runNow = null;

function rank(n) {
	return n ? String(n) : '';
}

function row(r, total) {
	return h('tr', {},
		h('th', { scope: 'row', text: total ? t('total_row') : r.district }),
		h('td', { class: 'num', text: fmtInt(r.target) }),
		h('td', { class: 'num', text: fmtInt(r.completed) }),
		h('td', { class: 'num', text: rank(r.completed_rank) }),
		// The rate as the ledger prints it: two decimals and a percent sign, "-" without a target.
		h('td', { class: 'num', text: r.rate ?? '-' }),
		h('td', { class: 'num', text: rank(r.rate_rank) }));
}

function render() {
	if (!ledger)
		return;
	document.getElementById('ledger-title').textContent = t('ledger_title', { year: ledger.year });
	document.getElementById('ledger-note').textContent = t('ledger_note', { as_of: ledger.as_of });
	document.getElementById('ledger-body').replaceChildren(...ledger.rows.map((r) => row(r, false)));
	document.getElementById('ledger-foot').replaceChildren(row(ledger.total, true));
	const empty = document.getElementById('ledger-empty');
	empty.hidden = ledger.rows.length > 0;
	empty.textContent = t('ledger_empty', { year: ledger.year });
	document.title = `${t('ledger_title', { year: ledger.year })} – ${ledger.as_of}`;
}

function wanted() {
	return { year: yearInput.value, as_of: asOfInput.value };
}

async function refresh() {
	const { year, as_of: asOf } = wanted();
	if (!yearInput.checkValidity() || !asOfInput.checkValidity())
		return;
	try {
		const { data } = await getJSON(`/v1/progress?year=${encodeURIComponent(year)}&as_of=${encodeURIComponent(asOf)}`);
		const current = wanted();
		if (current.year !== year || current.as_of !== asOf)
			return;
		if (data !== ledger) { // a new answer, or another year's kept one
			ledger = data;
			render();
		}
		refreshed();
		document.body.dataset.refreshed = String(Date.now());
	} catch (e) {
		refreshFailed(e);
	}
}

function main() {
	applyStatic();
	document.title = t('doc_title_ledger');
	showUpdated();
	const q = new URLSearchParams(location.search);
	const today = shanghaiDay(new Date());
	yearInput.value = /^\d{4}$/.test(q.get('year') ?? '') ? q.get('year') : today.slice(0, 4);
	asOfInput.value = /^\d{4}-\d{2}-\d{2}$/.test(q.get('as_of') ?? '') ? q.get('as_of') : today;
	setupSwitch(document.getElementById('lang-switch'), () => {
		showUpdated();
		render();
	});
	document.getElementById('ledger-form').addEventListener('submit', (e) => {
		e.preventDefault();
		const url = new URL(location.href);
		url.searchParams.set('year', yearInput.value);
		url.searchParams.set('as_of', asOfInput.value);
		history.replaceState(null, '', url);
		runNow();
	});
	document.getElementById('print').addEventListener('click', () => window.print());
	runNow = poll(refresh, refreshSeconds(30));
}

main();
