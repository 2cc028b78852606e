build-fp/obj/query/sum.o: src/query/sum.c src/query/sum.h
src/query/sum.h:
