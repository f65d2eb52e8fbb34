package badgerstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"

	"github.com/taskhost/taskhost/shared"
)

// checkSchema writes the format version into a new store, migrates a
// store of version 1, 2 or 3 and refuses any other version.
func (s *Store) checkSchema() error {
	version, err := s.version()
	if err != nil {
		return err
	}
	switch version {
	case schemaVersion:
		return nil
	case 0:
		return s.setVersion(schemaVersion)
	case 1:
		migrated := 0
		err := s.write(context.Background(), func(txn *tx) (bool, error) {
			var err error
			migrated, err = dropProcessingStatusKeys(txn)
			return err == nil, err
		})
		if err == nil {
			err = s.setVersion(2)
		}
		if err != nil {
			return fmt.Errorf("migrate store format 1 to 2: %w", err)
		}
		s.log.Info("migrated store format", "from", 1, "to", 2, "processing_tasks", migrated)
		fallthrough
	case 2:
		// The processing index gets its values (one transaction: they
		// are few), then the indexes without a status filter are dropped
		// whole (as many keys as tasks each, too many for one
		// transaction). Should this stop half way, version 2 is still
		// stored and the next Open does it again.
		err := s.write(context.Background(), func(txn *tx) (bool, error) {
			recs, err := processingRecords(txn.Txn, []byte{prefixProcessing})
			for _, r := range recs {
				if err == nil {
					err = txn.Set(indexKeys(r)[slotProcessing], processingValue(r))
				}
			}
			return len(recs) > 0, err
		})
		if err == nil {
			err = s.db.DropPrefix(
				[]byte{prefixCreated}, []byte{prefixCreated | filterType},
				[]byte{prefixModified}, []byte{prefixModified | filterType},
				[]byte{prefixCompleted}, []byte{prefixCompleted | filterType})
		}
		if err == nil {
			err = s.setVersion(3)
		}
		if err != nil {
			return fmt.Errorf("migrate store format 2 to 3: %w", err)
		}
		s.log.Info("migrated store format", "from", 2, "to", 3)
		fallthrough
	case 3:
		// Pending tasks leave the indexes with a status filter alone;
		// the type+status indexes keep them.
		pending, _ := statusCode(shared.StatusPending)
		err := s.db.DropPrefix(
			[]byte{prefixCreatedStatus, pending}, []byte{prefixModifiedStatus, pending}, []byte{prefixCompletedStatus, pending})
		if err == nil {
			err = s.setVersion(4)
		}
		if err != nil {
			return fmt.Errorf("migrate store format 3 to 4: %w", err)
		}
		s.log.Info("migrated store format", "from", 3, "to", 4)
		return nil
	}
	return fmt.Errorf("store format %x, want %d", []byte{version}, schemaVersion)
}

// version reads the store's format version: 0 for a new store.
func (s *Store) version() (byte, error) {
	var v []byte
	err := s.view(context.Background(), func(txn *badger.Txn) error {
		item, err := txn.Get(schemaKey)
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		v, err = item.ValueCopy(nil)
		return err
	})
	switch {
	case err != nil:
		return 0, fmt.Errorf("read store format: %w", err)
	case v == nil:
		return 0, nil
	case len(v) != 1 || v[0] == 0:
		return 0, fmt.Errorf("store format %x, want %d", v, schemaVersion)
	}
	return v[0], nil
}

// setVersion stores the format version v, durably.
func (s *Store) setVersion(v byte) error {
	return s.write(context.Background(), func(txn *tx) (bool, error) {
		return true, txn.Set(schemaKey, []byte{v})
	})
}

// dropProcessingStatusKeys deletes the status index keys of every
// processing task, which format 1 had, and returns how many tasks it
// found. One transaction: a store is opened by one host, whose processing
// tasks are few.
func dropProcessingStatusKeys(txn *tx) (int, error) {
	recs, err := processingRecords(txn.Txn, []byte{prefixProcessing})
	if err != nil {
		return 0, err
	}
	for _, r := range recs {
		for _, key := range statusIndexKeys(r) {
			if err := txn.Delete(key); err != nil {
				return 0, err
			}
		}
	}
	return len(recs), nil
}
