-- Q6: buckets labelled by their lower boundary, as the shared SQL does.
SELECT multiIf(f_metadata_2Eduration__t NOT IN (2, 3), 'other',
               f_metadata_2Eduration__n >= 0 AND f_metadata_2Eduration__n < 60, '0',
               f_metadata_2Eduration__n >= 60 AND f_metadata_2Eduration__n < 300, '60',
               f_metadata_2Eduration__n >= 300 AND f_metadata_2Eduration__n < 600, '300',
               'other') AS bucket,
       count() AS n,
       avgIf(f_metadata_2Eviews__i, f_metadata_2Eviews__t = 2) AS avg_views
FROM {table}
WHERE is_deleted = 0
GROUP BY bucket
ORDER BY bucket
