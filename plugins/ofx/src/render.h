/*
 * render.h -- the Render action: the frame window's pixels into a shared buffer (rows top to
 * bottom, RGB float; depth's first channel; alpha when Source has it), one RENDER request to the
 * bridge, and the result written back into the host's Output image.
 */
#ifndef GENREFOCUS_RENDER_H
#define GENREFOCUS_RENDER_H

#include "ofx_abi.h"

OfxStatus render_action(OfxImageEffectHandle effect, OfxPropertySetHandle inArgs);

#endif
