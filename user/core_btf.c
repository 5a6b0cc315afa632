// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The CO-RE target: the part of the kernel's BTF that libbpf relocates the
 * programs against, handed to it as bpf_object_open_opts.btf_custom_path.
 *
 * libbpf looks up every type a CO-RE relocation names by walking all of the
 * kernel's types, once per type (bpf_core_add_cands(): 126,690 types on
 * 6.18, 19 walks in tracepoint mode, 16 ms of the 44 ms it took to start).
 * The loader already walks them once, for the functions it checks
 * (loader.c): that walk also copies, here, every kernel type whose name is
 * that of a type of the object's own BTF (struct sock for the object's struct
 * sock, struct mptcp_sock for mptcp_sock___v66, ...), and what those types
 * hold by value (embedded structs and unions, arrays, typedefs), with their
 * layouts and names as they are. A pointer is copied as void *: a relocation
 * never follows one (each dereference is a relocation of its own, rooted at
 * the pointed-to type, which is copied if the object names it), and libbpf
 * takes any two pointers as compatible fields. libbpf then finds each type
 * among a few thousand, and computes the same offsets, sizes and existence.
 *
 * Type ids differ from the kernel's: a program that needs one
 * (bpf_rdonly_cast()) gets it from the loader as a constant instead of
 * bpf_core_type_id_kernel().
 *
 * What the copy cannot answer the same: libbpf follows pointers when it
 * matches whole types (bpf_core_type_exists(), bpf_core_type_matches() and
 * bpf_core_type_size() of a pointer, or of a typedef of one). The object's
 * type relocations are all on structs (mptcp_sock, sock_common); one on a
 * pointer type would need the pointed-to types copied too.
 */
#include <errno.h>
#include <search.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/btf.h>
#include "core_btf.h"

/* The kinds a CO-RE relocation can be rooted at, by name. */
static bool kind_is_root(const struct btf_type *t)
{
	switch (btf_kind(t)) {
	case BTF_KIND_INT:
	case BTF_KIND_FLOAT:
	case BTF_KIND_STRUCT:
	case BTF_KIND_UNION:
	case BTF_KIND_ENUM:
	case BTF_KIND_ENUM64:
	case BTF_KIND_TYPEDEF:
	case BTF_KIND_FWD:
		return true;
	default:
		return false;
	}
}

/* The X___Y pattern of a CO-RE flavour, X and Y not underscores (libbpf's bpf_core_is_flavor_sep()). */
static bool is_flavour_sep(const char *s)
{
	return s[0] != '_' && s[1] == '_' && s[2] == '_' && s[3] == '_' && s[4] != '_';
}

/*
 * The length of a name without its CO-RE flavour ("sock___v66" -> 4), as
 * libbpf's bpf_core_essential_name_len() counts it.
 */
static size_t essential_len(const char *name)
{
	size_t n = strlen(name);
	long i;

	for (i = (long)n - 5; i >= 0; i--) {
		if (is_flavour_sep(name + i))
			return (size_t)i + 1;
	}
	return n;
}

static __u64 length_bit(size_t len)
{
	return 1ULL << (len < 63 ? len : 63);
}

int core_names_init(struct core_names *names, const struct btf *local)
{
	__u32 id, n = btf__type_cnt(local);
	size_t count = 0;

	memset(names, 0, sizeof(*names));
	names->name = calloc(n, sizeof(*names->name));
	if (!names->name || !hcreate_r(2 * (size_t)n, &names->table)) {
		free(names->name);
		names->name = NULL;
		return -ENOMEM;
	}
	names->table_made = true;
	for (id = 1; id < n; id++) {
		const struct btf_type *t = btf__type_by_id(local, id);
		const char *name = btf__name_by_offset(local, t->name_off);
		ENTRY e, *found;

		if (!kind_is_root(t) || !name || !name[0])
			continue;
		e.key = strndup(name, essential_len(name));
		e.data = NULL;
		if (!e.key)
			goto fail;
		if (hsearch_r(e, FIND, &found, &names->table)) {
			free(e.key);
			continue;
		}
		names->lengths[(unsigned char)e.key[0]] |= length_bit(strlen(e.key));
		names->name[count++] = e.key;
		names->count = count;
		if (!hsearch_r(e, ENTER, &found, &names->table))
			goto fail;
	}
	return 0;
fail:
	core_names_free(names);
	return -ENOMEM;
}

void core_names_free(struct core_names *names)
{
	size_t i;

	if (names->table_made)
		hdestroy_r(&names->table);
	for (i = 0; i < names->count; i++)
		free(names->name[i]);
	free(names->name);
	memset(names, 0, sizeof(*names));
}

bool core_names_has(struct core_names *names, const struct btf_type *t, const char *name)
{
	char buf[128];
	size_t len;
	ENTRY e, *found;

	if (!names->count || !kind_is_root(t) || !names->lengths[(unsigned char)name[0]])
		return false;
	len = essential_len(name);
	if (!(names->lengths[(unsigned char)name[0]] & length_bit(len)))
		return false; /* most of the kernel's 14,000 named types */
	if (name[len]) {      /* a flavour: look up the name without it */
		if (len >= sizeof(buf))
			return false;
		memcpy(buf, name, len);
		buf[len] = 0;
		name = buf;
	}
	e.key = (char *)name;
	e.data = NULL;
	return hsearch_r(e, FIND, &found, &names->table) != 0;
}

struct copier {
	const struct btf *src;
	struct btf *dst;
	__u32 *map; /* kernel id -> target id; 0: not copied yet */
};

static int copy_type(struct copier *c, __u32 id);

/* The copied type as a modifiable record, as bpftool's min_core_btf patches its copies. */
static struct btf_type *copied(struct copier *c, __u32 id)
{
	return (struct btf_type *)btf__type_by_id(c->dst, id);
}

/* Copies what the type of ref refers to, and points ref at the copy. */
static int copy_ref(struct copier *c, __u32 new_id, __u32 *(*ref)(struct btf_type *, size_t),
		    size_t i)
{
	int r = copy_type(c, *ref(copied(c, new_id), i));

	if (r < 0)
		return r;
	*ref(copied(c, new_id), i) = (__u32)r; /* the record may have moved */
	return 0;
}

static __u32 *ref_type(struct btf_type *t, size_t i)
{
	(void)i;
	return &t->type;
}

static __u32 *ref_member(struct btf_type *t, size_t i)
{
	return &btf_members(t)[i].type;
}

static __u32 *ref_array_elem(struct btf_type *t, size_t i)
{
	(void)i;
	return &btf_array(t)->type;
}

static __u32 *ref_array_index(struct btf_type *t, size_t i)
{
	(void)i;
	return &btf_array(t)->index_type;
}

static __u32 *ref_param(struct btf_type *t, size_t i)
{
	return &btf_params(t)[i].type;
}

/* The id of id's copy in dst, copying it (and what it holds by value) first if need be. */
static int copy_type(struct copier *c, __u32 id)
{
	const struct btf_type *t;
	int new_id, r = 0;
	size_t i;

	if (id == 0)
		return 0; /* void */
	if (c->map[id])
		return (int)c->map[id];
	t = btf__type_by_id(c->src, id);
	if (!t)
		return -EINVAL;
	if (btf_is_ptr(t))
		new_id = btf__add_ptr(c->dst, 0);
	else
		new_id = btf__add_type(c->dst, c->src, t);
	if (new_id < 0)
		return new_id;
	c->map[id] = (__u32)new_id;
	switch (btf_kind(t)) {
	case BTF_KIND_TYPEDEF:
	case BTF_KIND_CONST:
	case BTF_KIND_VOLATILE:
	case BTF_KIND_RESTRICT:
	case BTF_KIND_TYPE_TAG:
		r = copy_ref(c, (__u32)new_id, ref_type, 0);
		break;
	case BTF_KIND_ARRAY:
		r = copy_ref(c, (__u32)new_id, ref_array_elem, 0);
		if (!r)
			r = copy_ref(c, (__u32)new_id, ref_array_index, 0);
		break;
	case BTF_KIND_STRUCT:
	case BTF_KIND_UNION:
		for (i = 0; !r && i < btf_vlen(t); i++)
			r = copy_ref(c, (__u32)new_id, ref_member, i);
		break;
	case BTF_KIND_FUNC_PROTO:
		r = copy_ref(c, (__u32)new_id, ref_type, 0);
		for (i = 0; !r && i < btf_vlen(t); i++)
			r = copy_ref(c, (__u32)new_id, ref_param, i);
		break;
	case BTF_KIND_INT:
	case BTF_KIND_FLOAT:
	case BTF_KIND_ENUM:
	case BTF_KIND_ENUM64:
	case BTF_KIND_FWD:
	case BTF_KIND_PTR:
		break;
	default: /* not held by value in a type (func, var, datasec, decl tag) */
		return -EINVAL;
	}
	return r ? r : new_id;
}

int core_btf_new(struct core_btf *cb, const struct btf *vmlinux)
{
	cb->btf = btf__new_empty();
	if (!cb->btf)
		return -errno;
	cb->map = calloc(btf__type_cnt(vmlinux), sizeof(*cb->map));
	if (!cb->map) {
		btf__free(cb->btf);
		cb->btf = NULL;
		return -ENOMEM;
	}
	cb->vmlinux = vmlinux;
	return 0;
}

int core_btf_add(struct core_btf *cb, __u32 id)
{
	struct copier c = {.src = cb->vmlinux, .dst = cb->btf, .map = cb->map};
	int r = copy_type(&c, id);

	return r < 0 ? r : 0;
}

int core_btf_write(const struct core_btf *cb, int fd)
{
	__u32 size;
	const void *raw = btf__raw_data(cb->btf, &size);

	if (!raw)
		return -errno;
	if (write(fd, raw, size) != (ssize_t)size)
		return errno ? -errno : -EIO;
	return 0;
}

void core_btf_free(struct core_btf *cb)
{
	btf__free(cb->btf);
	free(cb->map);
	cb->btf = NULL;
	cb->map = NULL;
}
