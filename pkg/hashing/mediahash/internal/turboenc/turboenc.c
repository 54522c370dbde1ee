//go:build cgo

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>

#include <jpeglib.h>

#include "turboenc.h"

typedef struct {
	struct jpeg_error_mgr pub;
	jmp_buf jump;
	char *msg;
} te_error_mgr;

static void te_error_exit(j_common_ptr cinfo) {
	te_error_mgr *err = (te_error_mgr *)cinfo->err;
	(*err->pub.format_message)(cinfo, err->msg);
	longjmp(err->jump, 1);
}

static void te_output_message(j_common_ptr cinfo) { (void)cinfo; }

int te_encode(const unsigned char *rgb, int width, int height, int quality,
              int progressive, unsigned char **out, unsigned long *out_len, char *msg) {
	struct jpeg_compress_struct cinfo;
	te_error_mgr err;
	*out = NULL;
	*out_len = 0;
	cinfo.err = jpeg_std_error(&err.pub);
	err.pub.error_exit = te_error_exit;
	err.pub.output_message = te_output_message;
	err.msg = msg;
	if (setjmp(err.jump)) {
		jpeg_destroy_compress(&cinfo);
		free(*out);
		*out = NULL;
		return 1;
	}
	jpeg_create_compress(&cinfo);
	jpeg_mem_dest(&cinfo, out, out_len);
	cinfo.image_width = (JDIMENSION)width;
	cinfo.image_height = (JDIMENSION)height;
	cinfo.input_components = 3;
	cinfo.in_color_space = JCS_RGB;
	jpeg_set_defaults(&cinfo);
	jpeg_set_quality(&cinfo, quality, TRUE);
	if (progressive) {
		jpeg_simple_progression(&cinfo);
	}
	jpeg_start_compress(&cinfo, TRUE);
	while (cinfo.next_scanline < cinfo.image_height) {
		JSAMPROW row = (JSAMPROW)(rgb + (size_t)cinfo.next_scanline * 3 * (size_t)width);
		jpeg_write_scanlines(&cinfo, &row, 1);
	}
	jpeg_finish_compress(&cinfo);
	jpeg_destroy_compress(&cinfo);
	return 0;
}
