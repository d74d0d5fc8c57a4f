/* form.c -- the upload form page (see form.h). */
#include "form.h"

#include "kinds.h"
#include "page.h"

void form_page(struct strbuf *sb, const struct cgi_config *cfg)
{
    page_begin(sb, "Brain MRI tissue analysis");
    sb_puts(sb,
            "<p>Upload a T1-weighted brain image in NIfTI-1 format (<code>.nii</code> or "
            "<code>.nii.gz</code>, skull-stripped works best). It is smoothed, segmented into CSF, grey "
            "and white matter by k-means on mlos slave shards, and optionally summarised per atlas "
            "region.</p>\n"
            "<form id=\"upload\" method=\"post\" enctype=\"multipart/form-data\" action=\"\">\n"
            "<fieldset><legend>Image</legend>\n"
            "<label for=\"image\">NIfTI file</label>\n"
            "<input type=\"file\" id=\"image\" name=\"image\" required "
            "accept=\".nii,.nii.gz,.gz,application/gzip,application/octet-stream\">\n");
    sb_printf(sb, "<p>At most %zu MiB and %zu voxels.</p>\n</fieldset>\n", cfg->max_bytes >> 20,
              cfg->max_voxels);
    sb_puts(sb,
            "<fieldset><legend>Options</legend>\n"
            "<p><label for=\"sigma\">Smoothing sigma (voxels)</label>\n"
            /* step="any": the browser then accepts exactly what options_sigma does */
            "<input type=\"number\" id=\"sigma\" name=\"sigma\" value=\"1.5\" min=\"0.1\" max=\"10\" "
            "step=\"any\" required></p>\n"
            "<p><label for=\"atlas\">Atlas</label>\n<select id=\"atlas\" name=\"atlas\">\n"
            "<option value=\"none\" selected>none</option>\n"
            "<option value=\"aal\">AAL (116 regions)</option>\n"
            "<option value=\"brodmann\">Brodmann areas</option>\n</select></p>\n"
            "<p><label for=\"slaves\">Number of slaves</label>\n<select id=\"slaves\" name=\"slaves\">\n"
            "<option value=\"auto\" selected>auto</option>\n");
    for (int n = 1; n <= cfg->max_slaves; n++)
        sb_printf(sb, "<option value=\"%d\">%d</option>\n", n, n);
    sb_puts(sb,
            "</select></p>\n"
            "<p><label for=\"kind\">Slave kind</label>\n<select id=\"kind\" name=\"kind\">\n");
    {
        static const char *const kinds[3][2] = {{"x86_64", "x86_64 (bare metal, QEMU)"},
                                                {"ppc", "ppc (bare metal PowerPC 440, QEMU)"},
                                                {"process", "process (Linux process)"}};
        char why[256];

        /* a kind that is not installed is shown but cannot be chosen */
        for (int k = 0; k < 3; k++) {
            int ok = kind_usable(kinds[k][0], why, sizeof why);

            sb_printf(sb, "<option value=\"%s\"%s%s>%s%s</option>\n", kinds[k][0], k == 0 && ok ? " selected" : "",
                      ok ? "" : " disabled", kinds[k][1], ok ? "" : " &ndash; not installed");
        }
    }
    sb_puts(sb,
            "</select></p>\n"
            "</fieldset>\n"
            "<p><button type=\"submit\">Analyse</button></p>\n</form>\n"
            "<p>Atlas regions are only available for images on the atlas grid "
            "(181&times;217&times;181, 1&nbsp;mm, MNI space, e.g. MRIcron's <code>ch2bet</code>).</p>\n");
    page_end(sb);
}
