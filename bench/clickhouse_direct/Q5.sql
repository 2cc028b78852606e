-- Q5: blobs live in the path entries only (val.*): 'blobs#0' is the
-- whole array (val.num its length), 'blobs.type#I' the type of element I
-- (from 1); val.h holds sipHash64 of each val.at for quick lookups.
SELECT substring(val.skey[indexOf(val.h, sipHash64(concat('blobs.type#', toString(i))))], 2)
           AS blob_type,
       count() AS n,
       sum(val.inum[indexOf(val.h, sipHash64(concat('blobs.details.size_bytes#', toString(i))))])
           AS bytes
FROM {table}
ARRAY JOIN arrayMap(x -> x + 1, range(toUInt32(val.num[indexOf(val.h, sipHash64('blobs#0'))])))
           AS i
WHERE is_deleted = 0
GROUP BY blob_type
ORDER BY bytes DESC, blob_type
