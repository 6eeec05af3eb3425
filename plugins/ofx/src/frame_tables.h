/*
 * frame_tables.h -- how many frames around t a render reads, from tables the build writes into
 * Contents/Resources from the Python definitions (one definition, read here at Load):
 *   warmup.tsv   the depth smoothing warm-up W(s) (genrefocus_video.depth.temporal.warmup_frames)
 *   sources.tsv  per depth source, the frames before / after t its estimate reads
 *                (genrefocus_video.ofx.estimate.source_reach: motion 8 / 8, a relative model 66 / 0)
 *                and its default smoothing strength
 */
#ifndef GENREFOCUS_FRAME_TABLES_H
#define GENREFOCUS_FRAME_TABLES_H

/* Read both tables from the bundle's Resources folder; 0 on success, -1 (reason on stderr). */
int frame_tables_load(const char *resources);

/* Frames before t that depth smoothing at strength s reads. */
int smoothing_warmup(double s);

/* Frames before and after t that depth source `name` reads (0, 0 for a source not in the table),
 * and the smoothing strength the schema's default gives it (used for a Depth Smoothing below 0,
 * the OFX face of "auto"). */
void source_reach(const char *name, int *before, int *after, double *default_smoothing);

#endif
