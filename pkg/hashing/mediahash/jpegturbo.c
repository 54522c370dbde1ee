//go:build cgo

// libjpeg-turbo decoding for jpeg_cgo.go. libjpeg reports a fatal error by
// calling error_exit, whose default prints and calls exit(): here it
// longjmps back to td_decode instead, which returns the message. Warnings
// (recoverable corrupt data, e.g. a truncated file whose missing part
// libjpeg paints grey, as browsers do) are counted, never printed.

#include <setjmp.h>
#include <stdio.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>

#include "jpegturbo.h"

typedef struct {
	struct jpeg_error_mgr pub; // first: libjpeg casts cinfo->err to this
	jmp_buf jump;
	int code;                  // TD_ERR_* of a longjmp
	td_result *res;
} td_error_mgr;

typedef struct {
	struct jpeg_progress_mgr pub; // first: libjpeg casts cinfo->progress to this
	const int32_t *cancel;
	int max_scans;
} td_progress_mgr;

static void td_error_exit(j_common_ptr cinfo) {
	td_error_mgr *err = (td_error_mgr *)cinfo->err;
	err->res->msg_code = err->pub.msg_code;
	(*err->pub.format_message)(cinfo, err->res->msg);
	err->code = TD_ERR_LIBJPEG;
	longjmp(err->jump, 1);
}

static void td_emit_message(j_common_ptr cinfo, int msg_level) {
	if (msg_level < 0) {
		cinfo->err->num_warnings++;
	}
}

static void td_output_message(j_common_ptr cinfo) { (void)cinfo; }

// td_progress runs once per row of MCUs read or written, also while
// jpeg_start_decompress reads every scan of a progressive file: the place
// to stop a decode that ran out of time or has too many scans.
static void td_progress(j_common_ptr cinfo) {
	td_progress_mgr *prog = (td_progress_mgr *)cinfo->progress;
	td_error_mgr *err = (td_error_mgr *)cinfo->err;
	j_decompress_ptr dinfo = (j_decompress_ptr)cinfo;
	if (__atomic_load_n(prog->cancel, __ATOMIC_RELAXED) != 0) {
		err->code = TD_ERR_CANCELLED;
		longjmp(err->jump, 1);
	}
	if (dinfo->input_scan_number > prog->max_scans) {
		err->code = TD_ERR_SCANS;
		longjmp(err->jump, 1);
	}
}

int td_decode(const unsigned char *data, size_t len, int scale_num,
              unsigned char *out, size_t out_len, int want_w, int want_h,
              int max_scans, long max_memory, const int32_t *cancel,
              td_result *res) {
	struct jpeg_decompress_struct cinfo;
	td_error_mgr err;
	td_progress_mgr prog;

	memset(res, 0, sizeof(*res));
	memset(&cinfo, 0, sizeof(cinfo));
	cinfo.err = jpeg_std_error(&err.pub);
	err.pub.error_exit = td_error_exit;
	err.pub.emit_message = td_emit_message;
	err.pub.output_message = td_output_message;
	err.code = TD_OK;
	err.res = res;
	prog.pub.progress_monitor = td_progress;
	prog.cancel = cancel;
	prog.max_scans = max_scans;

	if (setjmp(err.jump)) {
		int code = err.code;
		res->scans = cinfo.input_scan_number;
		res->warnings = err.pub.num_warnings;
		jpeg_destroy_decompress(&cinfo);
		return code;
	}
	jpeg_create_decompress(&cinfo);
	cinfo.progress = &prog.pub;
	// Progressive files keep every coefficient of the image (2 bytes each)
	// until the last scan; past this budget libjpeg fails instead of
	// allocating (it has no backing store).
	cinfo.mem->max_memory_to_use = max_memory;
	jpeg_mem_src(&cinfo, data, (unsigned long)len);
	jpeg_read_header(&cinfo, TRUE);

	if (cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK) {
		cinfo.out_color_space = JCS_CMYK;
		res->cmyk = 1;
	} else {
		// Grey, YCbCr and RGB files all convert to RGBX; libjpeg-turbo
		// sets X to 0xFF, so the buffer is an opaque RGBA image.
		cinfo.out_color_space = JCS_EXT_RGBX;
	}
	res->adobe = cinfo.saw_Adobe_marker ? 1 : 0;
	// DCT-domain scaling: the IDCT computes scale_num x scale_num pixels of
	// each 8x8 block, far cheaper than decoding in full and shrinking.
	cinfo.scale_num = (unsigned int)scale_num;
	cinfo.scale_denom = 8;
	jpeg_calc_output_dimensions(&cinfo);
	res->width = (int)cinfo.output_width;
	res->height = (int)cinfo.output_height;
	if (cinfo.output_components != 4 || res->width != want_w || res->height != want_h ||
	    (size_t)want_w * 4 * (size_t)want_h > out_len) {
		jpeg_destroy_decompress(&cinfo);
		return TD_ERR_SIZE;
	}

	jpeg_start_decompress(&cinfo);
	size_t stride = (size_t)want_w * 4;
	while (cinfo.output_scanline < cinfo.output_height) {
		JSAMPROW rows[16];
		int n = 0;
		for (; n < 16 && cinfo.output_scanline + n < cinfo.output_height; n++) {
			rows[n] = out + (size_t)(cinfo.output_scanline + n) * stride;
		}
		if (jpeg_read_scanlines(&cinfo, rows, (JDIMENSION)n) == 0) {
			break; // suspended: cannot happen with a memory source
		}
	}
	// The scans after the last MCU row (if any) are read and checked too.
	jpeg_finish_decompress(&cinfo);
	res->scans = cinfo.input_scan_number;
	res->warnings = err.pub.num_warnings;
	jpeg_destroy_decompress(&cinfo);
	return TD_OK;
}
