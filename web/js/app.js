// The map page: the map, the list, the districts, nearby lots and the day's curve of the lot or
// district chosen, kept current by polling the API with If-None-Match.

import { t, applyStatic, setupSwitch, fmtInt, fmtWhen, fmtAgo, fmtDistance } from './i18n.js';
import { getJSON, poll, refreshSeconds } from './api.js';
import { h, refreshed, refreshFailed, showUpdated } from './page.js';
import { LotMap } from './map.js';
import { LotList } from './list.js';
import { DistrictPanel } from './districts.js';
import { Curve } from './curve.js';

const CURVE_EVERY_MS = 60000; // the API keeps a curve for [api] query_cache (30 s)

const state = {
	crs: 'wgs84',
	lots: new Map(), // id -> feature
	selection: null, // { kind: 'lot', id } or { kind: 'district', name }
	curveAt: 0,
	near: null, // { lon, lat, where, features }
	returnFocus: null,
};
let map, list, districts, curve;

function lotsUrl(extra) {
	const q = new URLSearchParams(extra);
	if (state.crs !== 'wgs84')
		q.set('crs', state.crs);
	const s = q.toString();
	return s ? `/v1/lots?${s}` : '/v1/lots';
}

// ---- what a lot looks like in the popup and the detail panel -------------------------------

function freshness(p) {
	return h('span', { class: `fresh fresh-${p.freshness}`, text: t(`fresh_${p.freshness}`) });
}

function observed(p) {
	if (!p.observed_at)
		return t('no_data');
	return h('time', { datetime: p.observed_at, class: 'observed' },
		fmtWhen(p.observed_at), t('ago', { when: fmtAgo(p.observed_at) }));
}

function freeOf(p) {
	return p.free === null ? t('no_data') : t('free_of', { free: fmtInt(p.free), total: fmtInt(p.total) });
}

function popup(f) {
	const p = f.properties;
	return h('div', { class: 'popup', dataset: { lot: p.id } },
		h('strong', { class: 'popup-name', text: p.name || p.id }),
		p.address ? h('div', { class: 'popup-address', text: p.address }) : null,
		h('div', { class: 'popup-free' }, h('span', { class: 'big', text: freeOf(p) }), ' ', t('spaces')),
		h('div', { class: 'popup-meta' }, freshness(p), ' · ', observed(p)),
		p.status && p.status !== 'open'
			? h('div', { class: 'popup-status' }, `${t('status')}: `, h('strong', { text: t(`status_${p.status}`) }))
			: null);
}

function fact(label, ...value) {
	return [h('dt', { text: label }), h('dd', {}, ...value)];
}

function lotFacts(p) {
	return [
		...fact(t('district'), p.district ?? t('unknown_district')),
		...(p.address ? fact(t('address'), p.address) : []),
		...fact(t('free_total'), h('span', { class: 'free', text: freeOf(p) })),
		...fact(t('freshness'), freshness(p)),
		...fact(t('observed'), observed(p)),
		...(p.status ? fact(t('status'), t(`status_${p.status}`)) : []),
	];
}

function districtFacts(d) {
	return [
		...fact(t('lots'), fmtInt(d.lots)),
		...fact(t('lots_online'), `${fmtInt(d.lots_online)} / ${fmtInt(d.lots_stale)} / ${fmtInt(d.lots_offline)}`),
		...fact(t('free_total'), d.free === null ? '–' : `${fmtInt(d.free)} / ${fmtInt(d.total)}`),
	];
}

// ---- the detail panel and its curve --------------------------------------------------------

function showDetail(title, facts) {
	const panel = document.getElementById('detail');
	const wasHidden = panel.hidden;
	document.getElementById('detail-title').textContent = title;
	document.getElementById('detail-facts').replaceChildren(...facts);
	panel.hidden = false;
	if (wasHidden)
		map.invalidate();
}

async function loadCurve() {
	const sel = state.selection;
	const caption = document.getElementById('curve-caption');
	let url, field, name;
	if (!sel)
		return;
	if (sel.kind === 'lot') {
		const f = state.lots.get(sel.id);
		name = f ? f.properties.name || sel.id : sel.id;
		url = `/v1/lots/${encodeURIComponent(sel.id)}/history`;
		field = 'free_avg';
		caption.textContent = t('curve_lot', { name });
	} else {
		name = sel.name;
		url = `/v1/districts/${encodeURIComponent(sel.name)}/history`;
		field = 'free';
		caption.textContent = t('curve_district', { name });
	}
	state.curveAt = Date.now();
	try {
		const { data } = await getJSON(url);
		if (state.selection === sel)
			await curve.draw(data.buckets, field);
	} catch (e) {
		refreshFailed(e);
	}
}

function renderSelection(newCurve) {
	const sel = state.selection;
	if (!sel)
		return;
	if (sel.kind === 'lot') {
		const f = state.lots.get(sel.id);
		if (!f)
			return closeDetail();
		showDetail(f.properties.name || f.properties.id, lotFacts(f.properties));
		map.updatePopup(sel.id, popup(f));
	} else {
		const d = districts.get(sel.name);
		if (!d)
			return closeDetail();
		showDetail(sel.name, districtFacts(d));
	}
	if (newCurve || Date.now() - state.curveAt > CURVE_EVERY_MS)
		loadCurve();
}

function selectLot(id, pan) {
	const f = state.lots.get(id);
	if (!f)
		return;
	state.returnFocus = document.activeElement;
	state.selection = { kind: 'lot', id };
	list.select(id);
	renderSelection(true);
	map.openLot(id, popup(f), pan);
}

function selectDistrict(name) {
	state.returnFocus = document.activeElement;
	state.selection = { kind: 'district', name };
	list.select(null);
	list.setDistrict(name);
	map.closePopup();
	renderSelection(true);
	map.fitDistrict(name);
}

function closeDetail() {
	state.selection = null;
	list.select(null);
	curve.clear();
	document.getElementById('detail').hidden = true;
	map.closePopup();
	map.invalidate();
	if (state.returnFocus && document.contains(state.returnFocus))
		state.returnFocus.focus();
}

// ---- nearby lots ----------------------------------------------------------------------------

function activateTab(tab, focus) {
	for (const b of document.querySelectorAll('[role="tab"]')) {
		const on = b === tab;
		b.setAttribute('aria-selected', on ? 'true' : 'false');
		b.tabIndex = on ? 0 : -1;
		document.getElementById(b.getAttribute('aria-controls')).hidden = !on;
	}
	if (focus)
		tab.focus();
}

function setupTabs() {
	const tabs = [...document.querySelectorAll('[role="tab"]')];
	tabs.forEach((tab, i) => {
		tab.addEventListener('click', () => activateTab(tab, false));
		tab.addEventListener('keydown', (e) => {
			const to = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: tabs.length - 1 }[e.key];
			if (to === undefined)
				return;
			e.preventDefault();
			activateTab(tabs[(to + tabs.length) % tabs.length], true);
		});
	});
}

function renderNear() {
	const ol = document.getElementById('near-list');
	const status = document.getElementById('near-status');
	const n = state.near;
	if (!n || !n.features) {
		ol.replaceChildren();
		return;
	}
	status.textContent = n.features.length
		? t('near_result', { n: fmtInt(n.features.length), where: t(n.where) })
		: t('near_none');
	ol.dataset.lon = n.lon;
	ol.dataset.lat = n.lat;
	ol.replaceChildren(...n.features.map((f) => {
		const p = f.properties;
		const live = state.lots.get(p.id)?.properties ?? p;
		return h('li', { dataset: { lot: p.id } },
			h('button', { type: 'button', class: 'lot-link', onclick: () => selectLot(p.id, true) },
				h('span', { class: 'lot-name', text: p.name || p.id })),
			h('span', { class: 'near-meta' },
				h('span', { class: 'distance', text: fmtDistance(p.distance_m) }), ' · ',
				h('span', { class: 'free', text: live.free === null ? t('no_data') : `${fmtInt(live.free)} ${t('spaces')}` })));
	}));
}

// where: the i18n key of the place's name; wgs84: the point is WGS-84 whatever the map's system.
async function findNear(lon, lat, where, wgs84) {
	state.near = { lon, lat, where, features: null };
	map.setPin(wgs84 && state.crs !== 'wgs84' ? null : lon, lat);
	activateTab(document.getElementById('tab-near'), false);
	document.getElementById('near-status').textContent = t('near_searching');
	const q = { near: `${lon.toFixed(6)},${lat.toFixed(6)}`, limit: '10' };
	// A position from the browser is WGS-84: ask in WGS-84, then show the lots as the map has them.
	const url = wgs84 ? `/v1/lots?near=${q.near}&limit=10` : lotsUrl(q);
	try {
		const { data } = await getJSON(url);
		if (state.near && state.near.lon === lon && state.near.lat === lat) {
			state.near.features = data.features;
			renderNear();
			map.fitNear(data.features.map((f) => f.properties.id));
		}
	} catch (e) {
		document.getElementById('near-status').textContent = '';
		refreshFailed(e);
	}
}

function setupNear() {
	document.getElementById('near-me').addEventListener('click', () => {
		const status = document.getElementById('near-status');
		if (!navigator.geolocation) {
			status.textContent = t('near_no_geo', { why: 'geolocation' });
			return;
		}
		status.textContent = t('near_searching');
		navigator.geolocation.getCurrentPosition(
			(pos) => findNear(pos.coords.longitude, pos.coords.latitude, 'near_where_me', true),
			(err) => { status.textContent = t('near_no_geo', { why: err.message || err.code }); },
			{ enableHighAccuracy: false, timeout: 10000, maximumAge: 60000 });
	});
	document.getElementById('near-centre').addEventListener('click', () => {
		const [lon, lat] = map.centre();
		findNear(lon, lat, 'near_where_centre', false);
	});
}

// ---- refreshing ------------------------------------------------------------------------------

async function refresh() {
	try {
		const [lots, dist] = await Promise.all([getJSON(lotsUrl()), getJSON('/v1/districts')]);
		if (lots.changed) {
			const features = lots.data.features.filter((f) => f.geometry);
			state.lots = new Map(features.map((f) => [f.properties.id, f]));
			map.setLots(features);
			list.setLots(features);
			renderNear();
		}
		if (dist.changed)
			districts.setDistricts(dist.data);
		if (lots.changed || dist.changed)
			renderSelection(false);
		else if (state.selection && Date.now() - state.curveAt > CURVE_EVERY_MS)
			loadCurve();
		refreshed();
		document.body.dataset.refreshed = String(Date.now());
	} catch (e) {
		refreshFailed(e);
	}
}

function relabel() {
	document.title = t('doc_title_map');
	showUpdated();
	map.relabel();
	list.relabel();
	districts.render();
	renderNear();
	if (state.selection)
		renderSelection(true);
}

async function main() {
	applyStatic();
	document.title = t('doc_title_map');
	showUpdated();
	let config = { tile_url: null, tile_attribution: null, tile_crs: 'wgs84' };
	try {
		config = (await getJSON('/v1/config')).data;
	} catch (e) {
		refreshFailed(e);
	}
	state.crs = config.tile_url ? config.tile_crs || 'wgs84' : 'wgs84';
	document.body.dataset.crs = state.crs;
	map = new LotMap(document.getElementById('map'), config, {
		onLot: (id) => selectLot(id, false),
		onPoint: (lon, lat) => findNear(lon, lat, 'near_where_point', false),
	});
	list = new LotList((id) => selectLot(id, true));
	districts = new DistrictPanel(selectDistrict);
	curve = new Curve(document.getElementById('curve'), document.getElementById('curve-empty'));
	setupSwitch(document.getElementById('lang-switch'), relabel);
	setupTabs();
	setupNear();
	document.getElementById('detail-close').addEventListener('click', closeDetail);
	document.addEventListener('keydown', (e) => {
		if (e.key === 'Escape' && state.selection)
			closeDetail();
	});
	poll(refresh, refreshSeconds(10));
}

main();
