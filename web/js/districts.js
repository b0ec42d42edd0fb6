// The district panel: per district, lots online, stale and offline, and the free spaces of the
// online ones (as /v1/districts counts them), with a totals row. A district's name is a button
// that shows its lots and its curve.

import { t, fmtInt } from './i18n.js';
import { h } from './page.js';

const ORDER = ['沁阳市', '孟州市', '温县', '博爱县', '武陟县', '修武县',
	'解放区', '山阳区', '马村区', '中站区', '高新区'];

function rank(name) {
	const i = ORDER.indexOf(name);
	return i < 0 ? ORDER.length : i;
}

function freeTotal(free, total) {
	return free === null ? '–' : `${fmtInt(free)} / ${fmtInt(total)}`;
}

export class DistrictPanel {
	constructor(onDistrict) {
		this.onDistrict = onDistrict;
		this.body = document.getElementById('districts-body');
		this.foot = document.getElementById('districts-foot');
		this.rows = [];
	}

	setDistricts(rows) {
		// The city's own order (counties and cities, then urban districts), others after.
		const coll = new Intl.Collator('zh-CN');
		this.rows = rows.slice().sort((a, b) => rank(a.district) - rank(b.district) ||
			coll.compare(a.district ?? '\uffff', b.district ?? '\uffff'));
		this.render();
	}

	render() {
		const sum = { lots: 0, lots_online: 0, lots_stale: 0, lots_offline: 0, free: null, total: null };
		this.body.replaceChildren(...this.rows.map((d) => {
			for (const k of ['lots', 'lots_online', 'lots_stale', 'lots_offline'])
				sum[k] += d[k];
			if (d.free !== null) {
				sum.free = (sum.free ?? 0) + d.free;
				sum.total = (sum.total ?? 0) + d.total;
			}
			const name = d.district ?? t('unknown_district');
			return h('tr', { dataset: { district: d.district ?? '' } },
				h('th', { scope: 'row' }, d.district === null ? name
					: h('button', { type: 'button', class: 'link', text: name,
						onclick: () => this.onDistrict(d.district) })),
				h('td', { class: 'num', text: fmtInt(d.lots) }),
				h('td', { class: 'num n-online', text: fmtInt(d.lots_online) }),
				h('td', { class: 'num n-stale', text: fmtInt(d.lots_stale) }),
				h('td', { class: 'num n-offline', text: fmtInt(d.lots_offline) }),
				h('td', { class: 'num', text: freeTotal(d.free, d.total) }));
		}));
		this.foot.replaceChildren(h('tr', {},
			h('th', { scope: 'row', text: t('total_row') }),
			h('td', { class: 'num', text: fmtInt(sum.lots) }),
			h('td', { class: 'num', text: fmtInt(sum.lots_online) }),
			h('td', { class: 'num', text: fmtInt(sum.lots_stale) }),
			h('td', { class: 'num', text: fmtInt(sum.lots_offline) }),
			h('td', { class: 'num', text: freeTotal(sum.free, sum.total) })));
	}

	get(name) {
		return this.rows.find((d) => d.district === name);
	}
}
