// The list beside the map: every lot with a position, its district and free spaces; filtered by
// district and by text, sorted by a column's header button (aria-sort says how). A row's name is
// a button that selects the lot, so the list is the map's keyboard way in.

import { t, fmtInt } from './i18n.js';
import { h } from './page.js';
import { shareClass } from './map.js';

export class LotList {
	constructor(onLot) {
		this.onLot = onLot;
		this.body = document.getElementById('lots-body');
		this.count = document.getElementById('lots-count');
		this.districtSel = document.getElementById('filter-district');
		this.text = document.getElementById('filter-text');
		this.rows = new Map(); // id -> tr
		this.features = [];
		this.sort = { key: 'name', dir: 1 };
		this.selected = null;
		this.districtSel.addEventListener('change', () => this.render());
		this.text.addEventListener('input', () => this.render());
		for (const th of document.querySelectorAll('#lots-table th[data-sort]')) {
			th.querySelector('button').addEventListener('click', () => {
				const key = th.dataset.sort;
				// Free spaces: most first; names and districts: A to Z first.
				const first = key === 'free' ? -1 : 1;
				this.sort = { key, dir: this.sort.key === key ? -this.sort.dir : first };
				this.render();
			});
		}
	}

	setLots(features) {
		this.features = features.filter((f) => f.geometry);
		this.fillDistricts();
		this.render();
	}

	setDistrict(name) {
		this.districtSel.value = name;
		this.render();
	}

	select(id) {
		this.selected = id;
		for (const [rid, tr] of this.rows)
			tr.classList.toggle('selected', rid === id);
	}

	fillDistricts() {
		const names = [...new Set(this.features.map((f) => f.properties.district ?? ''))]
			.sort((a, b) => a.localeCompare(b, 'zh-CN'));
		const now = [...this.districtSel.options].slice(1).map((o) => o.value);
		if (JSON.stringify(names) === JSON.stringify(now))
			return;
		const keep = this.districtSel.value;
		this.districtSel.replaceChildren(this.districtSel.options[0],
			...names.map((n) => h('option', { value: n, text: n || t('unknown_district') })));
		this.districtSel.value = names.includes(keep) ? keep : '';
	}

	relabel() {
		this.districtSel.options[0].textContent = t('all_districts');
		for (const o of [...this.districtSel.options].slice(1))
			if (!o.value)
				o.textContent = t('unknown_district');
		this.render();
	}

	visible() {
		const d = this.districtSel.value;
		const q = this.text.value.trim().toLowerCase();
		return this.features.filter((f) => {
			const p = f.properties;
			if (d !== '' && (p.district ?? '') !== d)
				return false;
			if (!q)
				return true;
			return [p.name, p.address, p.id, p.district].some((s) => s && s.toLowerCase().includes(q));
		});
	}

	sorted(list) {
		// Names are Chinese whatever the page's language: in pinyin order.
		const coll = new Intl.Collator('zh-CN');
		const { key, dir } = this.sort;
		const name = (p) => p.name || p.id;
		const cmp = {
			name: (a, b) => coll.compare(name(a), name(b)),
			district: (a, b) => coll.compare(a.district ?? '', b.district ?? '') || coll.compare(name(a), name(b)),
			free: (a, b) => (a.free - b.free) || coll.compare(name(a), name(b)),
		}[key];
		return list.slice().sort((fa, fb) => {
			const a = fa.properties;
			const b = fb.properties;
			// Lots without data last, whichever the direction.
			if (key === 'free' && (a.free === null) !== (b.free === null))
				return a.free === null ? 1 : -1;
			return dir * cmp(a, b);
		});
	}

	row(f) {
		const p = f.properties;
		const cls = shareClass(p);
		const fresh = p.freshness === 'online' ? '' : t(`fresh_${p.freshness}`);
		const free = p.free === null ? t('no_data') : fmtInt(p.free);
		return h('tr', { dataset: { lot: p.id, share: cls }, class: this.selected === p.id ? 'selected' : null },
			h('td', { class: 'col-name' },
				h('button', { type: 'button', class: 'lot-link', onclick: () => this.onLot(p.id) },
					h('span', { class: `dot dot-${cls}`, 'aria-hidden': 'true' }),
					h('span', { class: 'lot-name', text: p.name || p.id })),
				p.address ? h('span', { class: 'lot-address', text: p.address }) : null),
			h('td', { class: 'col-district', text: p.district ?? t('unknown_district') }),
			h('td', { class: 'num col-free' },
				h('span', { class: 'free', text: free }),
				fresh ? h('span', { class: `fresh fresh-${p.freshness}`, text: fresh }) : null));
	}

	render() {
		const shown = this.sorted(this.visible());
		const focused = document.activeElement?.closest?.('#lots-body tr')?.dataset.lot;
		this.rows = new Map();
		const rows = shown.map((f) => {
			const tr = this.row(f);
			this.rows.set(f.properties.id, tr);
			return tr;
		});
		this.body.replaceChildren(...rows);
		if (focused)
			this.body.querySelector(`tr[data-lot="${CSS.escape(focused)}"] button`)?.focus();
		this.count.textContent = t('lots_count', { shown: fmtInt(shown.length), total: fmtInt(this.features.length) });
		for (const th of document.querySelectorAll('#lots-table th[data-sort]')) {
			if (th.dataset.sort === this.sort.key)
				th.setAttribute('aria-sort', this.sort.dir > 0 ? 'ascending' : 'descending');
			else
				th.removeAttribute('aria-sort');
		}
	}
}
