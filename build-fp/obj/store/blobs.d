build-fp/obj/store/blobs.o: src/store/blobs.c src/store/blobs.h \
 src/base/err.h src/base/ids.h src/base/utf8.h
src/store/blobs.h:
src/base/err.h:
src/base/ids.h:
src/base/utf8.h:
