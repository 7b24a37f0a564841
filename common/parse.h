/* Return codes shared by every incremental parser (STYLE.md 6). */
/* SPDX-License-Identifier: ISC */
#ifndef LB_PARSE_H
#define LB_PARSE_H

enum parse_rc {
	PARSE_OK = 0,	/* one item parsed */
	PARSE_MORE,	/* need more input; nothing consumed */
	PARSE_ERR,	/* reply BAD/500 and continue */
	PARSE_FATAL,	/* reply and close */
};

#endif
