/* Great-circle distances and the k nearest lots to a point, on a sphere of the mean radius. */
#include <math.h>
#include <stdlib.h>

#include "geo.h"

void geo__unit(double lon, double lat, double v[3])
{
	double la = lat * M_PI / 180.0, lo = lon * M_PI / 180.0;

	v[0] = cos(la) * cos(lo);
	v[1] = cos(la) * sin(lo);
	v[2] = sin(la);
}

/* atan2(|a x b|, a . b): accurate for near and far points alike, unlike acos(a . b). */
double geo__distance_m(const double a[3], const double b[3])
{
	double cx = a[1] * b[2] - a[2] * b[1];
	double cy = a[2] * b[0] - a[0] * b[2];
	double cz = a[0] * b[1] - a[1] * b[0];
	double dot = a[0] * b[0] + a[1] * b[1] + a[2] * b[2];

	return GEO_EARTH_RADIUS_M * atan2(sqrt(cx * cx + cy * cy + cz * cz), dot);
}

double geo__haversine_m(double lon1, double lat1, double lon2, double lat2)
{
	double p1 = lat1 * M_PI / 180.0, p2 = lat2 * M_PI / 180.0;
	double dp = p2 - p1, dl = (lon2 - lon1) * M_PI / 180.0;
	double h = sin(dp / 2) * sin(dp / 2) + cos(p1) * cos(p2) * sin(dl / 2) * sin(dl / 2);

	return 2.0 * GEO_EARTH_RADIUS_M * asin(sqrt(h < 1.0 ? h : 1.0));
}

struct cand {
	double dot; /* cosine of the angle to the query: larger is nearer */
	size_t index;
};

/* a is farther than b (the heap keeps the farthest of the best k on top). */
static bool farther(const struct cand *a, const struct cand *b)
{
	return a->dot < b->dot || (a->dot == b->dot && a->index > b->index);
}

static void sift_down(struct cand *h, size_t n, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, top = i;
		struct cand t;

		if (l < n && farther(&h[l], &h[top]))
			top = l;
		if (r < n && farther(&h[r], &h[top]))
			top = r;
		if (top == i)
			return;
		t = h[i];
		h[i] = h[top];
		h[top] = t;
		i = top;
	}
}

static void sift_up(struct cand *h, size_t i)
{
	while (i > 0) {
		size_t p = (i - 1) / 2;
		struct cand t;

		if (!farther(&h[i], &h[p]))
			return;
		t = h[i];
		h[i] = h[p];
		h[p] = t;
		i = p;
	}
}

static int by_distance(const void *a, const void *b)
{
	const struct geo_hit *x = a, *y = b;

	if (x->distance_m != y->distance_m)
		return x->distance_m < y->distance_m ? -1 : 1;
	return x->index < y->index ? -1 : x->index > y->index;
}

size_t geo__nearest(const double (*vec)[3], const bool *has, size_t n, const double q[3], size_t k,
		    double radius_m, struct geo_hit *out)
{
	/* Within the radius means a cosine at least this large (the angle is radius / R). */
	double min_dot = radius_m > 0 && radius_m < M_PI * GEO_EARTH_RADIUS_M
				 ? cos(radius_m / GEO_EARTH_RADIUS_M)
				 : -2.0;
	struct cand *heap;
	size_t m = 0;

	if (k == 0 || n == 0)
		return 0;
	heap = malloc(k * sizeof(*heap));
	if (!heap)
		return 0;
	for (size_t i = 0; i < n; i++) {
		struct cand c;

		if (!has[i])
			continue;
		c.dot = vec[i][0] * q[0] + vec[i][1] * q[1] + vec[i][2] * q[2];
		c.index = i;
		if (c.dot < min_dot)
			continue;
		if (m < k) {
			heap[m] = c;
			sift_up(heap, m++);
		} else if (farther(&heap[0], &c)) {
			heap[0] = c;
			sift_down(heap, m, 0);
		}
	}
	for (size_t i = 0; i < m; i++) {
		out[i].index = heap[i].index;
		out[i].distance_m = geo__distance_m(vec[heap[i].index], q);
	}
	free(heap);
	/* The cosine only preselects: the exact distance decides the order and the radius. */
	qsort(out, m, sizeof(*out), by_distance);
	while (m > 0 && radius_m > 0 && out[m - 1].distance_m > radius_m)
		m--;
	return m;
}
