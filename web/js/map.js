// The map (Leaflet, from Debian's libjs-leaflet, as the global L): one circle per lot coloured
// by its free share, grey when its data is stale, offline or missing; a plain background with
// the districts drawn from their lots' positions when no tile server is configured.

import { t, fmtInt } from './i18n.js';
import { h } from './page.js';

// The colour class of a lot: what the legend explains and the markers show.
export function shareClass(p) {
	if (p.freshness !== 'online' || p.free === null || p.free === undefined || !p.total)
		return 'grey';
	const share = p.free / p.total;
	return share >= 0.3 ? 'many' : share >= 0.1 ? 'some' : 'few';
}

export const COLOURS = { many: '#1a9641', some: '#e08600', few: '#d7301f', grey: '#8f8f8f' };
const AREA_COLOURS = ['#4e79a7', '#f28e2b', '#59a14f', '#b07aa1', '#76b7b2', '#edc948',
	'#e15759', '#9c755f', '#bab0ac', '#86bcb6', '#ff9da7'];

function radius(total) {
	return Math.max(5, Math.min(12, 3 + Math.sqrt(total || 0) / 4));
}

function escapeHtml(s) {
	return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

// Convex hull of [lat, lng] points (monotone chain), for a district's outline.
function hull(points) {
	const p = points.slice().sort((a, b) => a[1] - b[1] || a[0] - b[0]);
	if (p.length < 3)
		return p;
	const cross = (o, a, b) => (a[1] - o[1]) * (b[0] - o[0]) - (a[0] - o[0]) * (b[1] - o[1]);
	const lower = [];
	for (const q of p) {
		while (lower.length >= 2 && cross(lower[lower.length - 2], lower[lower.length - 1], q) <= 0)
			lower.pop();
		lower.push(q);
	}
	const upper = [];
	for (let i = p.length - 1; i >= 0; i--) {
		const q = p[i];
		while (upper.length >= 2 && cross(upper[upper.length - 2], upper[upper.length - 1], q) <= 0)
			upper.pop();
		upper.push(q);
	}
	return lower.slice(0, -1).concat(upper.slice(0, -1));
}

export class LotMap {
	// config: /v1/config; handlers: onLot(id), onPoint(lon, lat).
	constructor(el, config, handlers) {
		const L = window.L;
		this.L = L;
		this.handlers = handlers;
		this.markers = new Map(); // id -> circle marker
		this.features = new Map(); // id -> feature
		this.plain = !config.tile_url;
		this.map = L.map(el, { zoomControl: true, keyboard: true, minZoom: 7, maxZoom: 18,
			zoomSnap: 0.25 });
		this.map.setView([35.2, 113.1], 10);
		this.map.attributionControl.setPrefix(
			'<a href="https://leafletjs.com" rel="noopener">Leaflet</a>');
		if (this.plain) {
			el.classList.add('map-plain');
			this.map.createPane('districts').classList.add('pf-districts-pane');
			this.areas = L.layerGroup().addTo(this.map);
			this.labels = [];
			this.map.on('zoomend', () => this.declutter());
			this.attribution = t('map_attr_plain');
		} else {
			L.tileLayer(config.tile_url, { maxZoom: 18 }).addTo(this.map);
			this.attribution = config.tile_attribution ? escapeHtml(config.tile_attribution) : '';
		}
		if (this.attribution)
			this.map.attributionControl.addAttribution(this.attribution);
		this.map.on('click', (e) => handlers.onPoint(e.latlng.lng, e.latlng.lat));
		this.addShowAll();
		this.fitted = false;
		this.districtKey = '';
	}

	// A button under the zoom buttons: back to every lot of the city.
	addShowAll() {
		const L = this.L;
		const control = L.control({ position: 'topleft' });
		control.onAdd = () => {
			const box = h('div', { class: 'leaflet-bar show-all' });
			this.showAllButton = h('button', { type: 'button', id: 'show-all', onclick: () => this.fitAll() });
			box.append(this.showAllButton);
			L.DomEvent.disableClickPropagation(box);
			this.labelShowAll();
			return box;
		};
		control.addTo(this.map);
	}

	labelShowAll() {
		this.showAllButton.textContent = t('show_all');
		this.showAllButton.title = t('show_all_label');
		this.showAllButton.setAttribute('aria-label', t('show_all_label'));
	}

	// After a language switch.
	relabel() {
		this.labelShowAll();
		if (this.plain) {
			this.map.attributionControl.removeAttribution(this.attribution);
			this.attribution = t('map_attr_plain');
			this.map.attributionControl.addAttribution(this.attribution);
		}
		for (const [id, m] of this.markers)
			m.setTooltipContent(this.tooltip(this.features.get(id)));
	}

	tooltip(f) {
		const p = f.properties;
		return h('span', {}, p.name || p.id, ' · ',
			p.free === null ? t('no_data') : `${fmtInt(p.free)} ${t('spaces')}`);
	}

	// Every lot with a position, as /v1/lots gives them.
	setLots(features) {
		const L = this.L;
		const seen = new Set();
		for (const f of features) {
			if (!f.geometry)
				continue;
			const id = f.properties.id;
			const [lng, lat] = f.geometry.coordinates;
			const cls = shareClass(f.properties);
			seen.add(id);
			this.features.set(id, f);
			let m = this.markers.get(id);
			if (!m) {
				m = L.circleMarker([lat, lng], {
					radius: radius(f.properties.total), weight: 1.5, color: '#ffffff',
					fillOpacity: 0.9, fillColor: COLOURS[cls], className: `lot-marker lot-${cls}`,
				});
				m.bindTooltip(this.tooltip(f), { direction: 'top', offset: [0, -6] });
				// The popup says more than the tooltip, and over it.
				m.on('popupopen', () => m.closeTooltip());
				m.on('click', (e) => {
					L.DomEvent.stopPropagation(e);
					this.handlers.onLot(id);
				});
				m.addTo(this.map);
				m.getElement().dataset.lot = id;
				this.markers.set(id, m);
			} else {
				m.setLatLng([lat, lng]);
				m.setRadius(radius(f.properties.total));
				m.setStyle({ fillColor: COLOURS[cls] });
				m.setTooltipContent(this.tooltip(f));
				const el = m.getElement();
				el.classList.remove('lot-many', 'lot-some', 'lot-few', 'lot-grey');
				el.classList.add(`lot-${cls}`);
			}
			m.getElement().dataset.share = cls;
		}
		for (const [id, m] of this.markers) {
			if (!seen.has(id)) {
				m.remove();
				this.markers.delete(id);
				this.features.delete(id);
			}
		}
		if (!this.fitted && this.markers.size) {
			this.fitted = true;
			this.fitAll();
		}
		if (this.plain)
			this.drawDistricts();
	}

	fitAll() {
		const pts = [...this.markers.values()].map((m) => m.getLatLng());
		if (pts.length)
			this.map.fitBounds(this.L.latLngBounds(pts), { padding: [24, 24], maxZoom: 15 });
	}

	fitDistrict(name) {
		const pts = [];
		for (const [id, f] of this.features)
			if (f.properties.district === name)
				pts.push(this.markers.get(id).getLatLng());
		if (pts.length)
			this.map.fitBounds(this.L.latLngBounds(pts), { padding: [32, 32], maxZoom: 15 });
	}

	// The lots named and the pin in view (after a search nearby).
	fitNear(ids) {
		const pts = ids.filter((id) => this.markers.has(id)).map((id) => this.markers.get(id).getLatLng());
		if (this.pin)
			pts.push(this.pin.getLatLng());
		if (pts.length)
			this.map.fitBounds(this.L.latLngBounds(pts), { padding: [40, 40], maxZoom: 15 });
	}

	// The plain background: each district's outline around its lots and its name in the middle.
	drawDistricts() {
		const by = new Map();
		for (const f of this.features.values()) {
			const d = f.properties.district;
			if (!d)
				continue;
			if (!by.has(d))
				by.set(d, []);
			const [lng, lat] = f.geometry.coordinates;
			by.get(d).push([lat, lng]);
		}
		const key = JSON.stringify([...by].sort());
		if (key === this.districtKey)
			return;
		this.districtKey = key;
		this.areas.clearLayers();
		this.labels = [];
		const L = this.L;
		[...by.keys()].sort().forEach((d, i) => {
			const pts = by.get(d);
			const c = [pts.reduce((s, p) => s + p[0], 0) / pts.length,
				pts.reduce((s, p) => s + p[1], 0) / pts.length];
			const colour = AREA_COLOURS[i % AREA_COLOURS.length];
			const style = { pane: 'districts', interactive: false, color: colour, weight: 1,
				opacity: 0.6, dashArray: '4 4', fillColor: colour, fillOpacity: 0.07,
				className: 'district-area' };
			const outline = hull(pts);
			if (outline.length >= 3) {
				// Around the lots, not through them: pushed out from the middle.
				const grown = outline.map((p) => [c[0] + (p[0] - c[0]) * 1.25 + Math.sign(p[0] - c[0]) * 0.006,
					c[1] + (p[1] - c[1]) * 1.25 + Math.sign(p[1] - c[1]) * 0.008]);
				L.polygon(grown, style).addTo(this.areas);
			} else {
				L.circle(c, { ...style, radius: 900 }).addTo(this.areas);
			}
			// The name under the district's lots, not on top of them.
			const south = Math.min(...pts.map((p) => p[0]));
			this.labels.push({ lots: pts.length, marker: L.marker([south, c[1]], {
				pane: 'districts', interactive: false, keyboard: false,
				icon: L.divIcon({ className: 'district-label', iconSize: null,
					html: h('span', { text: d }) }),
			}).addTo(this.areas) });
		});
		this.declutter();
	}

	// Where district names would overlap, the one with more lots stays.
	declutter() {
		const placed = [];
		for (const { marker } of this.labels.slice().sort((a, b) => b.lots - a.lots)) {
			const span = marker.getElement()?.firstChild;
			if (!span)
				continue;
			span.classList.remove('hidden-label');
			const r = span.getBoundingClientRect();
			const hit = placed.some((q) => r.left < q.right && q.left < r.right && r.top < q.bottom && q.top < r.bottom);
			if (hit)
				span.classList.add('hidden-label');
			else
				placed.push(r);
		}
	}

	// Open the lot's popup with this content (an element).
	openLot(id, content, pan) {
		const m = this.markers.get(id);
		if (!m)
			return;
		if (pan)
			this.map.setView(m.getLatLng(), Math.max(this.map.getZoom(), 14));
		if (m.getPopup())
			m.setPopupContent(content);
		else
			m.bindPopup(content, { maxWidth: 280, autoPanPadding: [16, 16] });
		m.openPopup();
	}

	// Refresh an open popup's content.
	updatePopup(id, content) {
		const m = this.markers.get(id);
		if (m && m.isPopupOpen())
			m.setPopupContent(content);
	}

	closePopup() {
		this.map.closePopup();
	}

	setPin(lng, lat) {
		if (this.pin)
			this.pin.remove();
		this.pin = null;
		if (lng === null)
			return;
		this.pin = this.L.circleMarker([lat, lng], { radius: 8, weight: 3, color: '#0b5c7a',
			fillColor: '#ffffff', fillOpacity: 1, interactive: false, className: 'near-pin' })
			.addTo(this.map);
	}

	centre() {
		const c = this.map.getCenter();
		return [c.lng, c.lat];
	}

	invalidate() {
		this.map.invalidateSize();
	}
}
