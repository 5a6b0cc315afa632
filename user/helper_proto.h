/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The messages between the tracer and its lookup helper (helper.h), over
 * SOCK_SEQPACKET: one message per send, each a header naming its kind and how
 * many items follow, so a message is told by its tag, never by its size, and
 * one whose length does not match its header is refused as a whole.
 */
#ifndef V6TRACE_HELPER_PROTO_H
#define V6TRACE_HELPER_PROTO_H

#include <net/if.h>
#include <stddef.h>
#include <stdint.h>
#include "format.h"
#include "holders.h"
#include "listeners.h"
#include "v6trace.h"

enum helper_msg_kind {
	HELPER_MSG_HOLDER_QUESTIONS = 1,
	HELPER_MSG_HOLDER_ANSWERS = 2,
	HELPER_MSG_LISTENERS_REQUEST = 3,
	HELPER_MSG_LISTENERS_REPLY = 4,
};

struct helper_msg_header {
	uint32_t kind;	/* enum helper_msg_kind */
	uint32_t count; /* items after the message's fixed part */
};

/* What a question asks about its event. */
#define HELPER_WANT_HOLDER 1u /* who holds the port of this failed bind */
#define HELPER_WANT_IFNAME 2u /* the name of its ifindex in its namespace */

/* Only what a holder or an interface name needs of a failed bind's event. */
struct holder_question {
	uint64_t id;
	uint32_t want; /* HELPER_WANT_* */
	struct refused_bind bind;
};

struct holder_answer {
	uint64_t id;
	int32_t found;	      /* 1: holder says who; 0: nothing holds the port; -1: not known */
	int32_t ifname_found; /* 1: ifname names the interface; 0: not known */
	struct holder holder;
	char ifname[IF_NAMESIZE];
};

/* Questions and answers cross in messages of up to this many. */
#define HOLDER_PER_MESSAGE    64
#define LISTENERS_PER_MESSAGE 32

struct holder_questions_msg {
	struct helper_msg_header h;
	struct holder_question q[HOLDER_PER_MESSAGE];
};

struct holder_answers_msg {
	struct helper_msg_header h;
	struct holder_answer a[HOLDER_PER_MESSAGE];
};

/* The listeners of a namespace, for the deploy report. */
struct listeners_request_msg {
	struct helper_msg_header h; /* count 0 */
	uint64_t id;
	uint32_t netns, pid;
};

struct listeners_reply_msg {
	struct helper_msg_header h;
	uint64_t id; /* the request's */
	int32_t err;
	uint32_t last; /* 1: the request's last reply */
	struct listener v[LISTENERS_PER_MESSAGE];
};

/* The question about event e. */
struct holder_question holder_question_of(uint64_t id, uint32_t want, const struct v6t_event *e);
/*
 * The refused bind an event describes, as the holder lookup takes it (the
 * tracer's own lookup, when no helper runs, starts here too).
 */
struct refused_bind refused_bind_of(const struct v6t_event *e);

/* Each fills its message's header; the length to send. */
size_t helper_encode_questions(struct holder_questions_msg *m, const struct holder_question *q,
			       size_t n);
size_t helper_encode_answers(struct holder_answers_msg *m, size_t n);
size_t helper_encode_listeners_request(struct listeners_request_msg *m, uint64_t id, uint32_t netns,
				       uint32_t pid);
size_t helper_encode_listeners_reply(struct listeners_reply_msg *m, size_t n);

/*
 * Whether len bytes of m are a whole message of kind: its items, or
 * -EBADMSG (short, another kind, a count too large, a length that is not
 * the count's).
 */
int helper_decode_questions(const struct holder_questions_msg *m, size_t len);
int helper_decode_answers(const struct holder_answers_msg *m, size_t len);
int helper_decode_listeners_request(const struct listeners_request_msg *m, size_t len);
int helper_decode_listeners_reply(const struct listeners_reply_msg *m, size_t len);

#endif
