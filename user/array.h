/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A typed growable array: any struct with members T *v and size_t n, cap
 * (ARRAY_OF(T) declares them). The macros check the growth for overflow
 * (reallocarray) and, when max is not 0, refuse to hold more than max
 * elements, so that a flood of events cannot grow a list without bound.
 *
 * Hand-written rather than a library's: glib's GArray and the like are not
 * typed (an element is a gpointer or a memcpy'd blob, its size checked at
 * run time), and pulling glib into a tool linked statically for containers
 * would weigh more than these forty lines.
 */
#ifndef V6TRACE_ARRAY_H
#define V6TRACE_ARRAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ARRAY_OF(type)                                                                             \
	{                                                                                          \
		type *v;                                                                           \
		size_t n, cap;                                                                     \
	}

/* The first allocation: small lists stay small, and growth doubles from it. */
#define ARRAY_MIN_CAP 16

/*
 * Makes room for need elements of size bytes at *vp (a T **), growing the
 * capacity by doubling; false (nothing changed) when memory is short, the
 * size overflows, or need is beyond max (0: no bound). For a buffer that is
 * not an ARRAY_OF (a pool of strings, a capacity of another name).
 */
static inline bool array_grow(void *vp, size_t *cap, size_t need, size_t size, size_t max)
{
	size_t n = *cap ? *cap : ARRAY_MIN_CAP;
	void *old, *grown;

	if (max && need > max)
		return false;
	if (need <= *cap)
		return true;
	while (n < need) {
		if (n > SIZE_MAX / 2)
			return false;
		n *= 2;
	}
	if (max && n > max)
		n = max;
	if (size && n > SIZE_MAX / size)
		return false; /* refused here too: sanitizers abort where reallocarray fails */
	memcpy(&old, vp, sizeof(old)); /* a T * read as void *, without aliasing it */
	grown = reallocarray(old, n, size);
	if (!grown)
		return false;
	memcpy(vp, &grown, sizeof(grown));
	*cap = n;
	return true;
}

/* Room for need elements; false when it cannot be made (the array is unchanged). */
#define array_reserve(a, need, max) array_grow(&(a)->v, &(a)->cap, (need), sizeof(*(a)->v), (max))

/* A new last element (zeroed), or NULL when it cannot be added. */
#define array_push_max(a, max)                                                                     \
	(array_reserve((a), (a)->n + 1, (max)) ? memset(&(a)->v[(a)->n++], 0, sizeof(*(a)->v))     \
					       : NULL)
#define array_push(a) array_push_max((a), 0)

/* Opens a zeroed slot at index i of base[0, *n), moving the ones from i on up. */
static inline void *array_open_(void *base, size_t i, size_t *n, size_t size)
{
	char *p = (char *)base + i * size;

	memmove(p + size, p, (*n - i) * size);
	(*n)++;
	return memset(p, 0, size);
}

/* A new element (zeroed) at index i, or NULL when it cannot be added. */
#define array_insert_max(a, i, max)                                                                \
	(array_reserve((a), (a)->n + 1, (max))                                                     \
		 ? array_open_((a)->v, (i), &(a)->n, sizeof(*(a)->v))                              \
		 : NULL)

#define array_free(a)                                                                              \
	do {                                                                                       \
		free((a)->v);                                                                      \
		(a)->v = NULL;                                                                     \
		(a)->n = (a)->cap = 0;                                                             \
	} while (0)

#endif
