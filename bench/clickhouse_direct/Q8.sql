-- Q8: 'metadata.tags#0' is the whole array (val.num its length),
-- 'metadata.tags#I' its element I (from 1).
SELECT substring(val.skey[indexOf(val.h, sipHash64(concat('metadata.tags#', toString(i))))], 2)
           AS tag,
       count() AS n,
       groupUniqArrayIf(substring(f_metadata_2Ecategory__k, 2), f_metadata_2Ecategory__t = 4)
           AS categories,
       min(created_at) AS first_seen,
       maxIf(f_metadata_2Eduration__n, f_metadata_2Eduration__t IN (2, 3)) AS max_duration
FROM {table}
ARRAY JOIN arrayMap(x -> x + 1,
                    range(toUInt32(val.num[indexOf(val.h, sipHash64('metadata.tags#0'))])))
           AS i
WHERE is_deleted = 0
GROUP BY tag
ORDER BY n DESC, tag
LIMIT 50
