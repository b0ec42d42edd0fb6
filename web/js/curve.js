// The day's curve of a lot or a district, drawn with Chart.js (Debian's libjs-chart.js, loaded
// the first time a curve is shown, so the map's first load does not carry it).

import { t, fmtInt, fmtTime } from './i18n.js';

const CHART_JS = '/vendor/chart.js/chart.min.js';
let loading = null;

function loadChart() {
	if (window.Chart)
		return Promise.resolve(window.Chart);
	if (!loading) {
		loading = new Promise((resolve, reject) => {
			const s = document.createElement('script');
			s.src = CHART_JS;
			s.onload = () => resolve(window.Chart);
			s.onerror = () => {
				loading = null;
				reject(new Error(`${CHART_JS} did not load`));
			};
			document.head.append(s);
		});
	}
	return loading;
}

export class Curve {
	constructor(canvas, empty) {
		this.canvas = canvas;
		this.empty = empty;
		this.chart = null;
	}

	clear() {
		if (this.chart)
			this.chart.destroy();
		this.chart = null;
		this.canvas.removeAttribute('aria-label');
	}

	// buckets from /v1/.../history; field: the free spaces column (free_avg or free).
	async draw(buckets, field) {
		const values = buckets.map((b) => (b[field] === null ? null : Math.round(b[field])));
		const present = values.filter((v) => v !== null);
		this.clear();
		this.canvas.parentElement.hidden = present.length === 0;
		this.empty.hidden = present.length !== 0;
		this.empty.textContent = t('curve_none');
		if (!present.length)
			return;
		const Chart = await loadChart();
		Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
		this.clear(); // a curve drawn while Chart.js loaded
		this.canvas.setAttribute('aria-label', t('curve_summary', {
			min: fmtInt(Math.min(...present)), max: fmtInt(Math.max(...present)),
			last: fmtInt(present[present.length - 1]),
		}));
		this.chart = new Chart(this.canvas, {
			type: 'line',
			data: {
				labels: buckets.map((b) => fmtTime(b.start).slice(0, 5)),
				datasets: [{
					label: t('curve_series'),
					data: values,
					borderColor: '#0b5c7a',
					backgroundColor: 'rgba(11, 92, 122, 0.12)',
					fill: true,
					// A point only where it has no neighbours, so a lone bucket is seen.
					pointRadius: (c) => (values[c.dataIndex - 1] == null && values[c.dataIndex + 1] == null ? 3 : 0),
					borderWidth: 2,
					tension: 0.25,
					spanGaps: false,
				}],
			},
			options: {
				animation: false,
				responsive: true,
				maintainAspectRatio: false,
				interaction: { mode: 'index', intersect: false },
				plugins: {
					legend: { display: false },
					tooltip: { callbacks: { label: (c) => `${t('curve_series')}: ${fmtInt(c.parsed.y)}` } },
				},
				scales: {
					x: { ticks: { maxTicksLimit: 7, maxRotation: 0 }, grid: { display: false } },
					y: { beginAtZero: true, ticks: { precision: 0, callback: (v) => fmtInt(v) } },
				},
			},
		});
	}
}
