//go:build cgo

// The C half of the libjpeg-turbo decoder (jpeg_cgo.go).

#ifndef TAKEDOWN_JPEGTURBO_H
#define TAKEDOWN_JPEGTURBO_H

#include <stddef.h>
#include <stdint.h>

enum {
	TD_OK = 0,
	TD_ERR_LIBJPEG = 1,   // libjpeg refused the data; msg and msg_code say why
	TD_ERR_CANCELLED = 2, // *cancel became non-zero
	TD_ERR_SCANS = 3,     // more than max_scans scans
	TD_ERR_SIZE = 4,      // the output size is not what the caller allocated
};

typedef struct {
	int width, height;  // output size
	int cmyk;           // the output is CMYK (4-component JPEG), not RGBX
	int adobe;          // the file has an Adobe APP14 marker (CMYK stored inverted)
	int scans;          // scans read
	long warnings;      // corrupt-data warnings libjpeg recovered from
	int msg_code;       // libjpeg's message code of an error
	char msg[200];      // libjpeg's message of an error (JMSG_LENGTH_MAX)
} td_result;

// td_decode decodes the JPEG in data, scaled by scale_num/8 (1-8), into out:
// 4 bytes a pixel (RGBX or CMYK), rows of stride bytes, want_w x want_h
// pixels. It stops with TD_ERR_CANCELLED soon after *cancel becomes
// non-zero, and never exits or prints.
int td_decode(const unsigned char *data, size_t len, int scale_num,
              unsigned char *out, size_t out_len, int want_w, int want_h,
              int max_scans, long max_memory, const int32_t *cancel,
              td_result *res);

#endif
