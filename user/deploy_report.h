/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The deploy report: what a run changed in who serves IPv4 and IPv6.
 *
 * The listeners (listening TCP and MPTCP, bound UDP) of each namespace that
 * matters, before (when tracing starts) and after (when COMMAND has exited and
 * its events are written), compared per port and protocol (tcp: TCP and
 * MPTCP, which takes plain TCP clients too; udp):
 *
 * - service lost or gained: the IP versions a port serves (a v4 socket, a v6
 *   one, a dual-stack [::]) shrank or grew: dual -> v6 is "lost IPv4";
 * - a listener gone, new, whose stack changed, or whose owner changed (the
 *   same socket in another process's hands, or the port served by another
 *   program); a listener restarted by the same program with the same stack is
 *   no change;
 * - the binds that failed during the run, with their errors and holders.
 *
 * Worst news first. Each change says who made it (by): COMMAND's tree, a
 * process outside it, or unknown, and whether it counts for the gate
 * (--fail-on-lost), which fails the run when a port lost IPv4 or IPv6 service
 * through a change that counts. A change counts when one of the listeners
 * it touched, before or after, is
 *
 * - COMMAND's: its owner is a process of COMMAND's tree (one the tracer
 *   followed and saw an event of), or the tree bound or listened on that
 *   very address during the run;
 * - in a named unit (--unit NAME or --unit /CGROUP): its owner's cgroup is
 *   that one or below it;
 * - in a restarted service: its owner's cgroup (not the root cgroup) holds,
 *   at the end, the owner of a listener that started during the run outside
 *   COMMAND's tree: what a service manager's restart (systemctl restart)
 *   looks like.
 *
 * Without COMMAND every change counts: there is no deploy to tell apart.
 */
#ifndef V6TRACE_DEPLOY_REPORT_H
#define V6TRACE_DEPLOY_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "array.h"
#include "format.h"
#include "listeners.h"

/* The exit status of a run whose report found a port that lost service. */
#define V6T_EXIT_LOST_SERVICE 3

enum change_kind {
	CHANGE_LOST,	 /* a port no longer serves IPv4 or IPv6 */
	CHANGE_STACK,	 /* a listener's stack changed (dual -> v6, ...) */
	CHANGE_GONE,	 /* a listener is gone */
	CHANGE_OWNER,	 /* another process holds the socket, or another program the port */
	CHANGE_GAINED,	 /* a port now serves IPv4 or IPv6 too */
	CHANGE_APPEARED, /* a new listener */
};

enum change_by {
	BY_UNKNOWN, /* the owner is not known */
	BY_COMMAND, /* COMMAND's tree */
	BY_OUTSIDE, /* a process outside COMMAND's tree (or no COMMAND) */
};

/* Why a change counts for the gate; COUNTS_NOT: it does not. */
enum change_counts {
	COUNTS_NOT,
	COUNTS_COMMAND,	   /* by COMMAND's tree */
	COUNTS_UNIT,	   /* in a cgroup named with --unit */
	COUNTS_RESTARTED,  /* in a service cgroup with a listener started during the run */
	COUNTS_NO_COMMAND, /* no COMMAND: every change counts */
};

struct change {
	enum change_kind kind;
	uint32_t netns;
	uint16_t port;
	bool udp;
	uint8_t served_before, served_after; /* SERVES_V4 | SERVES_V6 */
	const struct listener *before, *after;
	enum change_by by;
	const struct listener *by_owner; /* whose owner made it; NULL: unknown */
	enum change_counts counts;
};

/* An address COMMAND's tree listened on (TCP, MPTCP) or bound (UDP) during the run. */
struct tree_place {
	uint32_t netns;
	uint16_t port;
	uint8_t family;
	bool udp;
	uint8_t addr[16];
};

/* Beyond these, a pid or an address of the tree is not remembered: blame says unknown. */
#define REPORT_MAX_TREE_PIDS   65536
#define REPORT_MAX_TREE_PLACES 4096

#define SERVES_V4 1
#define SERVES_V6 2

struct deploy_report_ns {
	uint32_t netns;
	bool own;	  /* the tracer's namespace */
	bool has_before;  /* listed when tracing started */
	int before_err;	  /* -errno: the before list could not be made */
	int after_err;	  /* -errno: the after list could not be made */
	uint32_t via_pid; /* a process of that namespace, to enter it */
	struct listeners before, after;
};

struct failed_bind {
	struct v6t_event e;
	enum holder_lookup lookup;
	struct holder holder;
};

struct deploy_report {
	struct ARRAY_OF(struct deploy_report_ns) ns;
	struct ARRAY_OF(struct failed_bind) failed;
	const uint16_t *watch, *ignore; /* ports; NULL/0: all, none */
	size_t nwatch, nignore;
	struct ARRAY_OF(struct change) changes;
	size_t lost;	     /* changes of kind CHANGE_LOST */
	size_t lost_counted; /* of them, those that count for the gate */
	/* who made the changes */
	bool command; /* a COMMAND ran: changes are held against its tree */
	uint32_t command_pid;
	uint64_t run_start; /* when tracing started, in clock ticks after boot (as /proc) */
	/* sorted: COMMAND and the processes of its tree seen in events */
	struct ARRAY_OF(uint32_t) tree_pids;
	struct ARRAY_OF(struct tree_place) places; /* sorted (cmp_tree_place) */
	bool tree_overflow; /* a pid or an address of the tree could not be remembered */
	const char (*units)[V6T_LISTENER_CGROUP_LEN]; /* --unit: cgroup paths */
	size_t nunits;
};

void deploy_report_init(struct deploy_report *r, uint32_t own_netns);
/* The namespace of a traced process's event, remembered with that process. */
void deploy_report_saw(struct deploy_report *r, uint32_t netns, uint32_t pid);
/*
 * A process of COMMAND's tree (every event's, when a COMMAND runs), and the
 * address of its successful listen, or UDP bind, that makes a listener its own.
 */
void deploy_report_tree_pid(struct deploy_report *r, uint32_t pid);
void deploy_report_tree_event(struct deploy_report *r, const struct v6t_event *e);
/* A bind that failed during the run, with its holder once looked up. */
void deploy_report_failed_bind(struct deploy_report *r, const struct v6t_event *e,
			       enum holder_lookup lookup, const struct holder *holder);
/* Compares before and after of every namespace: fills changes and lost. */
int deploy_report_compare(struct deploy_report *r);
/* The block of text: one line per change, worst first, then a total. */
void deploy_report_format_text(const struct deploy_report *r, struct strbuf *sb);
/* change records, then the record that closes the deploy report ("report"). */
void deploy_report_format_json(const struct deploy_report *r, struct strbuf *sb,
			       int64_t realtime_ns, bool gate);
void deploy_report_free(struct deploy_report *r);

#endif
