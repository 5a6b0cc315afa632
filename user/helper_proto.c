// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <string.h>
#include "helper_proto.h"

struct refused_bind refused_bind_of(const struct v6t_event *e)
{
	struct refused_bind f;

	memset(&f, 0, sizeof(f)); /* its padding crosses to the helper too */
	f.netns = e->netns;
	f.pid = e->pid;
	f.uid = e->uid;
	f.ifindex = e->ifindex;
	f.family = e->family;
	f.protocol = e->protocol;
	f.port = e->lport;
	memcpy(f.addr, e->laddr, sizeof(f.addr));
	return f;
}

struct holder_question holder_question_of(uint64_t id, uint32_t want, const struct v6t_event *e)
{
	struct holder_question q;

	memset(&q, 0, sizeof(q));
	q.id = id;
	q.want = want;
	q.bind = refused_bind_of(e);
	return q;
}

static size_t header(struct helper_msg_header *h, uint32_t kind, size_t n, size_t fixed,
		     size_t item)
{
	h->kind = kind;
	h->count = (uint32_t)n;
	return fixed + n * item;
}

size_t helper_encode_questions(struct holder_questions_msg *m, const struct holder_question *q,
			       size_t n)
{
	if (n > HOLDER_PER_MESSAGE)
		n = HOLDER_PER_MESSAGE;
	memcpy(m->q, q, n * sizeof(*q));
	return header(&m->h, HELPER_MSG_HOLDER_QUESTIONS, n,
		      offsetof(struct holder_questions_msg, q), sizeof(*q));
}

size_t helper_encode_answers(struct holder_answers_msg *m, size_t n)
{
	return header(&m->h, HELPER_MSG_HOLDER_ANSWERS, n, offsetof(struct holder_answers_msg, a),
		      sizeof(m->a[0]));
}

size_t helper_encode_listeners_request(struct listeners_request_msg *m, uint64_t id, uint32_t netns,
				       uint32_t pid)
{
	memset(m, 0, sizeof(*m));
	m->id = id;
	m->netns = netns;
	m->pid = pid;
	return header(&m->h, HELPER_MSG_LISTENERS_REQUEST, 0, sizeof(*m), 0);
}

size_t helper_encode_listeners_reply(struct listeners_reply_msg *m, size_t n)
{
	return header(&m->h, HELPER_MSG_LISTENERS_REPLY, n, offsetof(struct listeners_reply_msg, v),
		      sizeof(m->v[0]));
}

static int check(const struct helper_msg_header *h, size_t len, uint32_t kind, size_t fixed,
		 size_t item, size_t max)
{
	if (len < sizeof(*h) || len < fixed || h->kind != kind || h->count > max ||
	    len != fixed + h->count * item)
		return -EBADMSG;
	return (int)h->count;
}

int helper_decode_questions(const struct holder_questions_msg *m, size_t len)
{
	return check(&m->h, len, HELPER_MSG_HOLDER_QUESTIONS,
		     offsetof(struct holder_questions_msg, q), sizeof(m->q[0]), HOLDER_PER_MESSAGE);
}

int helper_decode_answers(const struct holder_answers_msg *m, size_t len)
{
	return check(&m->h, len, HELPER_MSG_HOLDER_ANSWERS, offsetof(struct holder_answers_msg, a),
		     sizeof(m->a[0]), HOLDER_PER_MESSAGE);
}

int helper_decode_listeners_request(const struct listeners_request_msg *m, size_t len)
{
	return check(&m->h, len, HELPER_MSG_LISTENERS_REQUEST, sizeof(*m), 0, 0);
}

int helper_decode_listeners_reply(const struct listeners_reply_msg *m, size_t len)
{
	return check(&m->h, len, HELPER_MSG_LISTENERS_REPLY,
		     offsetof(struct listeners_reply_msg, v), sizeof(m->v[0]),
		     LISTENERS_PER_MESSAGE);
}
